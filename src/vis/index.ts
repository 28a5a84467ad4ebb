/** stride/vis: looking inside networks (attribution, adversarial examples). */
export { grad_cam, occlusion, saliency, smooth_grad, type Classifier, type GradCamResult, type OcclusionOptions, type SmoothGradOptions, type Targets } from './attribution.js';
export { fgsm, fool, pgd, type FoolOptions, type FoolResult, type PGDOptions, type Range } from './adversarial.js';
