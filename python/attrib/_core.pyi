"""
Private kernels of attrib. Import attrib, not this module.
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['CancelToken', 'CorrelationKind', 'GLM_LOSS_TEST_TILE', 'GLM_LOSS_TRAIN_TILE', 'GlmFamily', 'GlmFit', 'GlmFitOptions', 'GlmStep', 'LASSO_BLOCK_TARGETS', 'LDS_TARGET_TILE', 'LEVERAGE_ONE_TOL', 'LassoOptions', 'LinearFit', 'LinearForm', 'MULTINOMIAL_LOSS_TEST_TILE', 'MULTINOMIAL_LOSS_TRAIN_TILE', 'MaskDesign', 'MultinomialFit', 'MultinomialFitOptions', 'MultinomialStep', 'PROJECTION_FEATURE_TILE', 'ProjectionKind', 'ProjectionSpec', 'RetrainModel', 'RetrainOptions', 'SubsetSampler', 'TRAK_ROW_TILE', 'TrakFactor', 'Truncation', 'UtilityData', 'UtilityMetric', 'UtilityModel', 'UtilityParams', 'bootstrap_means', 'column_correlation', 'cpu_supports_x86_64_v3', 'default_num_threads', 'draw_subsets', 'evaluate_subsets', 'fingerprint', 'fixed_subset_size', 'glm_exact_block_rows', 'glm_exact_loo', 'glm_fit', 'glm_group_step', 'glm_loo_rows', 'glm_loss_change', 'glm_loss_change_topk', 'glm_solve_rows', 'knn_rank_itemsize', 'knn_ranks', 'knn_shapley', 'knn_shapley_accumulate', 'knn_test_chunk', 'lasso_at', 'lasso_path', 'lds_targets', 'linear_dfbeta', 'linear_fit', 'linear_group_loo', 'linear_prediction_change', 'linear_row_block', 'max_threads', 'multinomial_exact_block_rows', 'multinomial_exact_loo', 'multinomial_fit', 'multinomial_group_step', 'multinomial_loo_rows', 'multinomial_loss_change', 'multinomial_loss_change_topk', 'philox4x32_10', 'projection_accumulate_f32', 'projection_accumulate_f64', 'projection_matrix_f32', 'projection_matrix_f64', 'projection_scale', 'random_permutations', 'random_subsets', 'retrain_subsets', 'subset_predictions', 'trak_factor', 'trak_gram', 'trak_gram_f32', 'trak_quad', 'trak_score_rows', 'trak_score_rows_f32', 'trak_solve', 'trak_topk_update', 'utility_metrics', 'walk_order', 'walk_permutations']
class LinearForm:
    """
    Factorisation of a squared-loss fit: the d x d Gram matrix (primal) or the n x n kernel (dual, ridge only); automatic takes the dual form when alpha > 0 and d > n.
    
    Members:
    
      automatic
    
      primal
    
      dual
    """
    __members__: typing.ClassVar[dict[str, LinearForm]]
    automatic: typing.ClassVar[LinearForm]
    dual: typing.ClassVar[LinearForm]
    primal: typing.ClassVar[LinearForm]
    @typing.overload
    def __eq__(self, other: LinearForm) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: LinearForm) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class LinearFit:
    """
    A fitted squared-loss model (private; see attrib.linear_loo).
    """
    def __getstate__(self) -> tuple[int, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, bool, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], bool, float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], bool]:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    def gram_quad(self, D: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        """
        d_g' A d_g for each row d_g of D (n_groups x p, intercept first).
        """
    def inv_gram_sd(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        """
        sqrt(diag(A^-1)) in the original parametrisation, intercept first (p).
        """
    @property
    def alpha(self) -> float:
        ...
    @property
    def chol(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def chol_inv(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def coef(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def col_scale(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def dual(self) -> bool:
        ...
    @property
    def exact_fit(self) -> bool:
        ...
    @property
    def fit_intercept(self) -> bool:
        ...
    @property
    def hat(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def intercept(self) -> float:
        ...
    @property
    def rcond(self) -> float:
        ...
    @property
    def resid(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def sum_w(self) -> float:
        ...
    @property
    def w_fingerprint(self) -> tuple[int, int]:
        ...
    @property
    def x_fingerprint(self) -> tuple[int, int]:
        ...
    @property
    def x_mean(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def x_mean_lo(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def y_mean(self) -> float:
        ...
    @property
    def y_mean_lo(self) -> float:
        ...
class GlmFamily:
    """
    The loss of one row (canonical links).
    
    Members:
    
      logistic
    
      poisson
    
      gaussian
    """
    __members__: typing.ClassVar[dict[str, GlmFamily]]
    gaussian: typing.ClassVar[GlmFamily]
    logistic: typing.ClassVar[GlmFamily]
    poisson: typing.ClassVar[GlmFamily]
    @typing.overload
    def __eq__(self, other: GlmFamily) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: GlmFamily) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class GlmStep:
    """
    Which step glm_loo_rows forms besides leverages.
    
    Members:
    
      none
    
      newton
    
      influence
    """
    __members__: typing.ClassVar[dict[str, GlmStep]]
    influence: typing.ClassVar[GlmStep]
    newton: typing.ClassVar[GlmStep]
    none: typing.ClassVar[GlmStep]
    @typing.overload
    def __eq__(self, other: GlmStep) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: GlmStep) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class GlmFitOptions:
    """
    Settings of glm_fit; GlmFitOptions(family=..., l2=...) sets fields by name.
    """
    family: GlmFamily
    fingerprint: bool
    fit_intercept: bool
    polish: bool
    def __init__(self, **kwargs) -> None:
        ...
    @property
    def l2(self) -> float:
        ...
    @l2.setter
    def l2(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_iter(self) -> int:
        ...
    @max_iter.setter
    def max_iter(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_threads(self) -> int:
        ...
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def tol(self) -> float:
        ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class GlmFit:
    """
    A fitted GLM (private; see attrib.glm_loo).
    """
    def __getstate__(self) -> tuple[int, int, bool, float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], float, float, float, int, bool, float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]]:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def chol(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def coef(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def converged(self) -> bool:
        ...
    @property
    def d1(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def d2(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def eta(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def family(self) -> GlmFamily:
        ...
    @property
    def fingerprints(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
        ...
    @property
    def fit_intercept(self) -> bool:
        ...
    @property
    def grad_max(self) -> float:
        ...
    @property
    def intercept(self) -> float:
        ...
    @property
    def l2(self) -> float:
        ...
    @property
    def n_iter(self) -> int:
        ...
    @property
    def objective(self) -> float:
        ...
    @property
    def rcond(self) -> float:
        ...
    @property
    def step_max(self) -> float:
        ...
class MultinomialStep:
    """
    Which step multinomial_loo_rows forms.
    
    Members:
    
      newton
    
      influence
    """
    __members__: typing.ClassVar[dict[str, MultinomialStep]]
    influence: typing.ClassVar[MultinomialStep]
    newton: typing.ClassVar[MultinomialStep]
    @typing.overload
    def __eq__(self, other: MultinomialStep) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: MultinomialStep) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class MultinomialFitOptions:
    """
    Settings of multinomial_fit; fields set by name.
    """
    fit_intercept: bool
    polish: bool
    def __init__(self, **kwargs) -> None:
        ...
    @property
    def l2(self) -> float:
        ...
    @l2.setter
    def l2(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_iter(self) -> int:
        ...
    @max_iter.setter
    def max_iter(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_classes(self) -> int:
        ...
    @n_classes.setter
    def n_classes(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_threads(self) -> int:
        ...
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def tol(self) -> float:
        ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class MultinomialFit:
    """
    A fitted multinomial model (private; see attrib.glm_loo).
    """
    def __getstate__(self) -> tuple[int, int, bool, float, typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"], float, float, float, int, bool, float]:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def chol(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def coef(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def converged(self) -> bool:
        ...
    @property
    def fit_intercept(self) -> bool:
        ...
    @property
    def gauge(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def grad_max(self) -> float:
        ...
    @property
    def hess_inv(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def intercept(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def l2(self) -> float:
        ...
    @property
    def n_classes(self) -> int:
        ...
    @property
    def n_iter(self) -> int:
        ...
    @property
    def objective(self) -> float:
        ...
    @property
    def prob(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def rcond(self) -> float:
        ...
    @property
    def step_max(self) -> float:
        ...
class UtilityModel:
    """
    The model a built-in utility fits.
    
    Members:
    
      ridge
    
      logistic
    
      knn
    """
    __members__: typing.ClassVar[dict[str, UtilityModel]]
    knn: typing.ClassVar[UtilityModel]
    logistic: typing.ClassVar[UtilityModel]
    ridge: typing.ClassVar[UtilityModel]
    @typing.overload
    def __eq__(self, other: UtilityModel) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: UtilityModel) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class UtilityMetric:
    """
    How a built-in utility scores on the test set.
    
    Members:
    
      r2
    
      neg_mse
    
      accuracy
    
      neg_log_loss
    """
    __members__: typing.ClassVar[dict[str, UtilityMetric]]
    accuracy: typing.ClassVar[UtilityMetric]
    neg_log_loss: typing.ClassVar[UtilityMetric]
    neg_mse: typing.ClassVar[UtilityMetric]
    r2: typing.ClassVar[UtilityMetric]
    @typing.overload
    def __eq__(self, other: UtilityMetric) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: UtilityMetric) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class UtilityParams:
    """
    A built-in utility's model, metric and hyperparameters (defaults: the core's).
    """
    metric: UtilityMetric
    model: UtilityModel
    def __init__(self) -> None:
        ...
    @property
    def C(self) -> float:
        ...
    @C.setter
    def C(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def alpha(self) -> float:
        ...
    @alpha.setter
    def alpha(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def k(self) -> int:
        ...
    @k.setter
    def k(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_newton_iter(self) -> int:
        ...
    @max_newton_iter.setter
    def max_newton_iter(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_classes(self) -> int:
        ...
    @n_classes.setter
    def n_classes(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def newton_tol(self) -> float:
        ...
    @newton_tol.setter
    def newton_tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def refactor_every(self) -> int:
        ...
    @refactor_every.setter
    def refactor_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class UtilityData:
    """
    Views of a utility's training and test arrays (kept alive by this object).
    """
    @typing.overload
    def __init__(self, X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]) -> None:
        ...
    @typing.overload
    def __init__(self, X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], knn_ranks: typing.Annotated[numpy.typing.NDArray[numpy.int32], "[m, n]", "flags.c_contiguous"]) -> None:
        ...
    @property
    def d(self) -> int:
        ...
    @property
    def m(self) -> int:
        ...
    @property
    def n(self) -> int:
        ...
class CancelToken:
    """
    Set from another thread to abandon a block in flight (Ctrl-C).
    """
    def __init__(self) -> None:
        ...
    def cancel(self) -> None:
        ...
    def requested(self) -> bool:
        ...
class Truncation:
    """
    TMC-Shapley truncation of a permutation walk.
    """
    enabled: bool
    def __init__(self) -> None:
        ...
    @property
    def burn_in(self) -> int:
        ...
    @burn_in.setter
    def burn_in(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def full_utility(self) -> float:
        ...
    @full_utility.setter
    def full_utility(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def patience(self) -> int:
        ...
    @patience.setter
    def patience(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def rtol(self) -> float:
        ...
    @rtol.setter
    def rtol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class TrakFactor:
    """
    A Cholesky-factored TRAK kernel (private; see attrib.TRAK).
    """
    @property
    def chol(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def norm1(self) -> float:
        ...
    @property
    def ok(self) -> bool:
        ...
    @property
    def rcond(self) -> float:
        ...
class CorrelationKind:
    """
    Pearson or Spearman (ties averaged).
    
    Members:
    
      pearson
    
      spearman
    """
    __members__: typing.ClassVar[dict[str, CorrelationKind]]
    pearson: typing.ClassVar[CorrelationKind]
    spearman: typing.ClassVar[CorrelationKind]
    @typing.overload
    def __eq__(self, other: CorrelationKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: CorrelationKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class SubsetSampler:
    """
    How a datamodel subset is drawn.
    
    Members:
    
      fixed
    
      bernoulli
    """
    __members__: typing.ClassVar[dict[str, SubsetSampler]]
    bernoulli: typing.ClassVar[SubsetSampler]
    fixed: typing.ClassVar[SubsetSampler]
    @typing.overload
    def __eq__(self, other: SubsetSampler) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: SubsetSampler) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class RetrainModel:
    """
    A built-in learner of retrain.
    
    Members:
    
      logistic
    
      ridge
    
      knn
    """
    __members__: typing.ClassVar[dict[str, RetrainModel]]
    knn: typing.ClassVar[RetrainModel]
    logistic: typing.ClassVar[RetrainModel]
    ridge: typing.ClassVar[RetrainModel]
    @typing.overload
    def __eq__(self, other: RetrainModel) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: RetrainModel) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class RetrainOptions:
    """
    Settings of retrain_subsets.
    """
    fit_intercept: bool
    model: RetrainModel
    def __init__(self, **kwargs) -> None:
        ...
    @property
    def k(self) -> int:
        ...
    @k.setter
    def k(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def l2(self) -> float:
        ...
    @l2.setter
    def l2(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_iter(self) -> int:
        ...
    @max_iter.setter
    def max_iter(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_classes(self) -> int:
        ...
    @n_classes.setter
    def n_classes(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_threads(self) -> int:
        ...
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def tol(self) -> float:
        ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class LassoOptions:
    """
    Settings of the lasso kernels.
    """
    early_stop: bool
    def __init__(self, **kwargs) -> None:
        ...
    @property
    def eps(self) -> float:
        ...
    @eps.setter
    def eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_sweeps(self) -> int:
        ...
    @max_sweeps.setter
    def max_sweeps(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def min_lambdas(self) -> int:
        ...
    @min_lambdas.setter
    def min_lambdas(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_lambdas(self) -> int:
        ...
    @n_lambdas.setter
    def n_lambdas(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def n_threads(self) -> int:
        ...
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def patience(self) -> int:
        ...
    @patience.setter
    def patience(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def tol(self) -> float:
        ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class MaskDesign:
    """
    Some rows of a packed mask matrix as a dense design (and its standardised Gram matrix).
    """
    def __init__(self, masks: typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]", "flags.c_contiguous"], n: typing.SupportsInt | typing.SupportsIndex, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], gram: bool, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def cols(self) -> int:
        ...
    @property
    def count(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def has_gram(self) -> bool:
        ...
    @property
    def mu(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
    @property
    def rows(self) -> int:
        ...
    @property
    def sigma(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        ...
class ProjectionKind:
    """
    How the entries of P are drawn.
    
    Members:
    
      rademacher
    
      gaussian
    
      sparse
    """
    __members__: typing.ClassVar[dict[str, ProjectionKind]]
    gaussian: typing.ClassVar[ProjectionKind]
    rademacher: typing.ClassVar[ProjectionKind]
    sparse: typing.ClassVar[ProjectionKind]
    @typing.overload
    def __eq__(self, other: ProjectionKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: ProjectionKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class ProjectionSpec:
    """
    Everything that determines a projection matrix.
    """
    def __init__(self, kind: ProjectionKind, seed: typing.SupportsInt | typing.SupportsIndex, model_id: typing.SupportsInt | typing.SupportsIndex, n_features: typing.SupportsInt | typing.SupportsIndex, dim: typing.SupportsInt | typing.SupportsIndex, nnz: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def kind(self) -> ProjectionKind:
        ...
    @property
    def model_id(self) -> int:
        ...
    @property
    def n_features(self) -> int:
        ...
    @property
    def nnz(self) -> int:
        ...
    @property
    def seed(self) -> int:
        ...
def _cholesky_downdate(arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"], arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def _cholesky_update(arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"], arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def _sherman_morrison_update(arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"], arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"], arg2: typing.SupportsFloat | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def _woodbury_update(arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"], arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"], arg2: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def bootstrap_means(values: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], n_resamples: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    """
    Means of bootstrap resamples of values, resample b drawn from the stream (seed, b).
    """
def column_correlation(A: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], B: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], kind: CorrelationKind, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    """
    Correlation of each column of A with the same column of B (NaN where undefined).
    """
def cpu_supports_x86_64_v3() -> bool:
    """
    True when this CPU can run the x86-64-v3 (AVX2 + FMA) build.
    """
def default_num_threads() -> int:
    """
    Threads a kernel uses when not told: the OpenMP default (OMP_NUM_THREADS, threadpoolctl).
    """
def draw_subsets(seed: typing.SupportsInt | typing.SupportsIndex, first_id: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, sampler: SubsetSampler, alpha: typing.SupportsFloat | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]"]:
    """
    Packed masks of subsets first_id .. first_id + count - 1 (count x ceil(n / 8) uint8).
    """
def evaluate_subsets(data: UtilityData, params: UtilityParams, seed: typing.SupportsInt | typing.SupportsIndex, first_id: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex, cancel: CancelToken | None = None) -> typing.Any:
    ...
def fingerprint(a: numpy.ndarray, n_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[int, int]:
    """
    128-bit checksum (two ints) of a C-contiguous array's bytes, the same for any thread count: the in-place edit check of results that read their training data again.
    """
def fixed_subset_size(n: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex) -> int:
    """
    Points in a fixed-size subset: floor(alpha n + 0.5).
    """
def glm_exact_block_rows(n: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Rows glm_exact_loo solves together for n training rows (split row lists into multiples of it).
    """
def glm_exact_loo(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: GlmFit, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], max_iter: typing.SupportsInt | typing.SupportsIndex, tol: typing.SupportsFloat | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.bool]]:
    ...
def glm_fit(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], offset: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], start: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], start_hessian: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], options: GlmFitOptions) -> GlmFit:
    ...
def glm_group_step(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: GlmFit, offsets: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], indices: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, numpy.typing.NDArray[numpy.bool]]:
    ...
def glm_loo_rows(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: GlmFit, step: GlmStep, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, numpy.typing.NDArray[numpy.float64]]:
    ...
def glm_loss_change(X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], offset_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: GlmFit, D: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex, out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"]) -> None:
    """
    Writes the loss changes into out (len(D) x len(X_test), C-contiguous float64; a row slice of a larger result is fine).
    """
def glm_loss_change_topk(X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], offset_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: GlmFit, D: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], k: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, typing.Any, typing.Any]:
    ...
def glm_solve_rows(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], fit: GlmFit, c: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def knn_ranks(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.int32], "[m, n]"]:
    ...
def knn_shapley(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, 1]"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, 1]"], k: typing.SupportsInt | typing.SupportsIndex, soft_label: bool, n_classes: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    ...
def knn_shapley_accumulate(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], x_sq: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], y: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, 1]"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, 1]"], k: typing.SupportsInt | typing.SupportsIndex, soft_label: bool, n_classes: typing.SupportsInt | typing.SupportsIndex, chunk: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex, acc: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]", "flags.writeable"]) -> None:
    """
    Adds the per-test-point KNN-Shapley values of X_test's rows to acc (see the core's documentation).
    """
def knn_test_chunk(n: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Test points per accumulation chunk of knn_shapley_accumulate for n training points.
    """
def lasso_at(design: MaskDesign, Y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], lambdas: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], warm: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], options: LassoOptions, cancel: CancelToken | None = None) -> typing.Any:
    ...
def lasso_path(train: MaskDesign, Y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], val: MaskDesign, Y_val: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], options: LassoOptions, cancel: CancelToken | None = None) -> typing.Any:
    ...
def lds_targets(masks: typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]", "flags.c_contiguous"], n_train: typing.SupportsInt | typing.SupportsIndex, scores: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], outputs: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], t_begin: typing.SupportsInt | typing.SupportsIndex, t_end: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    """
    Per-target Spearman of the additive prediction with the outputs (NaN where undefined).
    """
def linear_dfbeta(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], fit: LinearFit, c: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], n_threads: typing.SupportsInt | typing.SupportsIndex, out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"]) -> None:
    """
    Writes dfbeta rows into out (len(X) x p, C-contiguous float64; a row slice of a larger result is fine).
    """
def linear_fit(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], alpha: typing.SupportsFloat | typing.SupportsIndex, fit_intercept: bool, n_threads: typing.SupportsInt | typing.SupportsIndex, with_dfbeta: bool = False, form: LinearForm = LinearForm.automatic, fingerprint: bool = False) -> tuple:
    ...
def linear_group_loo(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: LinearFit, offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, numpy.typing.NDArray[numpy.bool]]:
    ...
def linear_prediction_change(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], fit: LinearFit, c: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], n_threads: typing.SupportsInt | typing.SupportsIndex, out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"]) -> None:
    """
    Writes the prediction changes into out (len(X) x len(X_test), C-contiguous float64; a row slice is fine).
    """
def linear_row_block(cols: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Rows per fixed block of the linear row passes for this many columns (pieces start at its multiples).
    """
def max_threads() -> int:
    """
    The most threads a kernel starts; larger requests are capped.
    """
def multinomial_exact_block_rows(n: typing.SupportsInt | typing.SupportsIndex, n_classes: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Rows multinomial_exact_loo solves together (split row lists into multiples of it).
    """
def multinomial_exact_loo(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: MultinomialFit, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], max_iter: typing.SupportsInt | typing.SupportsIndex, tol: typing.SupportsFloat | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, numpy.typing.NDArray[numpy.int32], numpy.typing.NDArray[numpy.bool]]:
    ...
def multinomial_fit(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], start: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], options: MultinomialFitOptions) -> MultinomialFit:
    ...
def multinomial_group_step(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: MultinomialFit, offsets: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], indices: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, numpy.typing.NDArray[numpy.bool]]:
    ...
def multinomial_loo_rows(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: MultinomialFit, step: MultinomialStep, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, numpy.typing.NDArray[numpy.bool], numpy.typing.NDArray[numpy.float64]]:
    ...
def multinomial_loss_change(X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: MultinomialFit, D: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex, out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"]) -> None:
    """
    Writes the loss changes into out (len(D) x len(X_test), C-contiguous float64; a row slice of a larger result is fine).
    """
def multinomial_loss_change_topk(X_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_test: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], fit: MultinomialFit, D: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], k: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple[typing.Any, typing.Any, typing.Any, typing.Any]:
    ...
def philox4x32_10(ctr: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], key: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"]) -> typing.Annotated[list[int], "FixedSize(4)"]:
    """
    One Philox4x32-10 block (for the known-answer tests).
    """
def projection_accumulate_f32(spec: ProjectionSpec, G: numpy.typing.NDArray[numpy.float32], feature_offset: typing.SupportsInt | typing.SupportsIndex, Y: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.writeable", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Y += G S, S the unscaled rows feature_offset.. of P (multiply Y by projection_scale afterwards).
    """
def projection_accumulate_f64(spec: ProjectionSpec, G: numpy.typing.NDArray[numpy.float64], feature_offset: typing.SupportsInt | typing.SupportsIndex, Y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Y += G S, S the unscaled rows feature_offset.. of P (multiply Y by projection_scale afterwards).
    """
def projection_matrix_f32(spec: ProjectionSpec, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], cols: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
    """
    The scaled entries P[rows][:, cols] (rows = input features).
    """
def projection_matrix_f64(spec: ProjectionSpec, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], cols: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    """
    The scaled entries P[rows][:, cols] (rows = input features).
    """
def projection_scale(spec: ProjectionSpec) -> float:
    """
    The factor applied after accumulation: 1/sqrt(dim), or 1/sqrt(nnz) for sparse.
    """
def random_permutations(seed: typing.SupportsInt | typing.SupportsIndex, first_id: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, antithetic: bool) -> typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, n]"]:
    ...
def random_subsets(seed: typing.SupportsInt | typing.SupportsIndex, first_id: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]"]:
    ...
def retrain_subsets(X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], X_target: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], y_target: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], masks: typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]", "flags.c_contiguous"], first_id: typing.SupportsInt | typing.SupportsIndex, start: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], knn_order: typing.Annotated[numpy.typing.NDArray[numpy.int32], "[m, n]", "flags.c_contiguous"], options: RetrainOptions, cancel: CancelToken | None = None) -> typing.Any:
    """
    (margin, loss, correct, n_iter, converged) of one model per mask row, or None if cancelled.
    """
def subset_predictions(masks: typing.Annotated[numpy.typing.NDArray[numpy.uint8], "[m, n]", "flags.c_contiguous"], n_train: typing.SupportsInt | typing.SupportsIndex, scores: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], t_begin: typing.SupportsInt | typing.SupportsIndex, t_end: typing.SupportsInt | typing.SupportsIndex, n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    """
    Additive predictions masks @ scores[:, t_begin:t_end] from packed masks.
    """
def trak_factor(G: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], lambda_: typing.SupportsFloat | typing.SupportsIndex) -> TrakFactor:
    ...
def trak_gram(Phi: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], G: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def trak_gram_f32(Phi: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], w: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], G: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def trak_quad(Phi: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], chol: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    ...
def trak_score_rows(Phi: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], s: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], Y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], accumulate: bool, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def trak_score_rows_f32(Phi: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], s: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"], Y32: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], out: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], accumulate: bool, n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def trak_solve(chol: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], Phi_test: typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
def trak_topk_update(tile: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"], r0: typing.SupportsInt | typing.SupportsIndex, hi_val: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], hi_idx: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, n]", "flags.writeable", "flags.c_contiguous"], lo_val: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.writeable", "flags.c_contiguous"], lo_idx: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, n]", "flags.writeable", "flags.c_contiguous"], n_threads: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def utility_metrics(model: UtilityModel) -> list[UtilityMetric]:
    """
    The metrics a model is scored by, its default first.
    """
def walk_order(data: UtilityData, params: UtilityParams, order: typing.Annotated[numpy.typing.NDArray[numpy.int64], "[m, 1]"]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
    ...
def walk_permutations(data: UtilityData, params: UtilityParams, seed: typing.SupportsInt | typing.SupportsIndex, first_id: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, antithetic: bool, truncation: Truncation, n_threads: typing.SupportsInt | typing.SupportsIndex, cancel: CancelToken | None = None) -> typing.Any:
    ...
GLM_LOSS_TEST_TILE: int = 64
GLM_LOSS_TRAIN_TILE: int = 256
LASSO_BLOCK_TARGETS: int = 32
LDS_TARGET_TILE: int = 32
LEVERAGE_ONE_TOL: float = 1e-10
MULTINOMIAL_LOSS_TEST_TILE: int = 64
MULTINOMIAL_LOSS_TRAIN_TILE: int = 128
PROJECTION_FEATURE_TILE: int = 256
TRAK_ROW_TILE: int = 256
_isa: str = 'baseline'
_openmp: bool = True
knn_rank_itemsize: int = 4
