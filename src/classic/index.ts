/**
 * stride/classic: the classic baselines with scikit-learn's semantics, on stride tensors:
 * k-nearest neighbours, k-fold cross-validation, linear classifiers with the multiclass SVM and
 * softmax losses, k-means, PCA and whitening.
 */
import '../backend/reference/index.js';

export { KNearestNeighbors, pairwise_distances, type KNNOptions, type Metric, type Neighbors } from './knn.js';
export {
  k_fold, cross_val_score, cross_validate_knn, cross_validation_plot,
  type Fold, type KFoldOptions, type Estimator, type KnnCrossValidation, type KnnCrossValidationOptions,
} from './model_selection.js';
export { LinearClassifier, type LinearClassifierOptions, type LinearLoss, type FitOptions } from './linear.js';
export { KMeans, type KMeansOptions } from './kmeans.js';
export { PCA, ZCAWhitening, type PCAOptions, type ZCAOptions } from './pca.js';
export { eigh, type Eigen } from './eigh.js';
