/**
 * A picture folder chosen or dropped by the user, as torchvision's ImageFolder reads one
 * (root/CLASS/picture.png), decoded by the browser to size x size grey bytes.
 */
import type { FolderImage } from './protocol.js';

const PICTURE = /\.(png|jpe?g|gif|bmp|webp)$/i;

interface Named {
  file: File;
  /** The path below the chosen folder, as parts: [CLASS, ..., name]. */
  parts: string[];
}

/** Files from an <input webkitdirectory>: their relative paths start with the chosen folder's name. */
export function fromFileList(files: FileList): { root: string; files: Named[] } {
  const list = [...files].map((file) => ({ file, parts: file.webkitRelativePath.split('/') }));
  return { root: list[0]?.parts[0] ?? 'folder', files: list.map((f) => ({ file: f.file, parts: f.parts.slice(1) })) };
}

/** Every file below `dir`, with its path below the dropped folder. */
async function walk(dir: FileSystemDirectoryEntry, parts: string[], out: Named[]): Promise<void> {
  const reader = dir.createReader();
  // readEntries returns the entries in chunks until an empty one.
  for (;;) {
    const chunk = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (!chunk.length) return;
    for (const e of chunk) {
      if (e.isFile) out.push({ file: await new Promise<File>((ok, fail) => (e as FileSystemFileEntry).file(ok, fail)), parts: [...parts, e.name] });
      else await walk(e as FileSystemDirectoryEntry, [...parts, e.name], out);
    }
  }
}

/** Files from a folder dropped on the page. */
export async function fromDrop(items: DataTransferItemList): Promise<{ root: string; files: Named[] }> {
  const root = [...items].map((i) => i.webkitGetAsEntry()).find((e) => e?.isDirectory);
  if (!root) throw new Error('drop a folder (with one sub-folder of pictures per class)');
  const files: Named[] = [];
  await walk(root as FileSystemDirectoryEntry, [], files);
  return { root: root.name, files };
}

/** The pictures directly inside class folders, decoded and resized (stretched) to size x size grey. */
export async function decodeFolder(files: Named[], size: number): Promise<FolderImage[]> {
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const out: FolderImage[] = [];
  for (const { file, parts } of files) {
    if (parts.length !== 2 || !PICTURE.test(file.name)) continue;
    const bitmap = await createImageBitmap(file);
    ctx.clearRect(0, 0, size, size);
    ctx.drawImage(bitmap, 0, 0, size, size);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, size, size).data;
    const pixels = new Uint8Array(size * size);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round((rgba[4 * i]! + rgba[4 * i + 1]! + rgba[4 * i + 2]!) / 3);
    out.push({ label: parts[0]!, pixels });
  }
  return out;
}
