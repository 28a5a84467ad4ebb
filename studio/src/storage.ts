/** Models kept in the browser (IndexedDB): the same safetensors bytes as a download, by name. */

export interface StoredModel {
  name: string;
  /** ISO date. */
  saved: string;
  /** Model, dataset and test accuracy, for the list. */
  description: string;
  bytes: Uint8Array;
}

const DB = 'stride-studio';
const STORE = 'models';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'name' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Runs one request in a transaction and resolves with its result once the transaction is done. */
async function request<T>(mode: IDBTransactionMode, make: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = make(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const putModel = (m: StoredModel) => request('readwrite', (s) => s.put(m)).then(() => undefined);
export const getModel = (name: string) => request<StoredModel | undefined>('readonly', (s) => s.get(name) as IDBRequest<StoredModel | undefined>);
export const deleteModel = (name: string) => request('readwrite', (s) => s.delete(name)).then(() => undefined);
export const listModels = () => request<StoredModel[]>('readonly', (s) => s.getAll() as IDBRequest<StoredModel[]>);
