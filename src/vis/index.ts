/** stride/vis: looking inside networks (pictures, statistics, attribution, adversarial examples, optimised images, similarity). Pure: Node and browsers. */
export { grad_cam, guided_backprop, occlusion, saliency, smooth_grad, type Classifier, type GradCamResult, type OcclusionOptions, type SmoothGradOptions, type Targets } from './attribution.js';
export { fgsm, fool, pgd, type FoolOptions, type FoolResult, type PGDOptions, type Range } from './adversarial.js';
export { capture, colorize, feature_map_grid, features, filter_grid, make_grid, overlay, toImageData, type GridOptions, type Normalize } from './pictures.js';
export { deep_dream, gram, invert, match_colors, maximize_activation, style_transfer, total_variation, type DreamOptions, type InvertOptions, type MaximizeOptions, type Optimized, type StyleOptions, type StyleResult } from './optimize.js';
export { histogram, init_experiment, init_experiment_spec, init_std, INIT_SCHEMES, layer_statistics, summarize, type Histogram, type InitExperimentOptions, type InitRun, type InitScheme, type LayerStatistics, type LayerStatisticsOptions, type Summary } from './statistics.js';
export { class_templates } from './templates.js';
export { cosine_similarity_matrix, feature_similarity, similarity_picture, type FeatureSimilarity } from './similarity.js';
