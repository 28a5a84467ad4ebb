/** File formats and file access: safetensors (pure) and the Node-only file helpers. Loads the reference backend, as stride/nn does, so that importing models works from this entry point alone. */
import '../backend/reference/index.js';
export {
  parseSafetensors, serializeSafetensors, MAX_HEADER_BYTES, type SafetensorsContents, type SerializeOptions,
} from './safetensors.js';
export { readBytes, writeFileAtomic, saveSafetensors, loadSafetensors, type FileContents } from './files.js';
export { ImageFolder, readImage, writeImage, type ImageFolderOptions, type ReadImageOptions } from './image_folder.js';
export { load_state_dict_file, load_weights, save_weights, type SaveWeightsOptions } from './weights.js';
export { export_onnx, type ExportOptions } from './onnx/export.js';
export { import_onnx, OnnxError, OnnxModule } from './onnx/import.js';
export { import_tfjs_layers, TfjsError, TfjsLayersModule, type TfjsImportOptions } from './tfjs/import.js';
export { load_tfjs_layers } from './tfjs/load.js';
