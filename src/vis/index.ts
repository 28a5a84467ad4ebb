/** stride/vis: looking inside networks (pictures, attribution, adversarial examples). Pure: Node and browsers. */
export { grad_cam, occlusion, saliency, smooth_grad, type Classifier, type GradCamResult, type OcclusionOptions, type SmoothGradOptions, type Targets } from './attribution.js';
export { fgsm, fool, pgd, type FoolOptions, type FoolResult, type PGDOptions, type Range } from './adversarial.js';
export { capture, colorize, feature_map_grid, features, filter_grid, make_grid, overlay, toImageData, type GridOptions, type Normalize } from './pictures.js';
export { deep_dream, gram, invert, maximize_activation, style_transfer, total_variation, type DreamOptions, type InvertOptions, type MaximizeOptions, type Optimized, type StyleOptions, type StyleResult } from './optimize.js';
