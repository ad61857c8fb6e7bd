/* One sector size (MODEL, MODEL_HEADER defined by lanes.c; ALL_WIDTHS for one firm): its
   generated right-hand side over one lane (a run's start and its freeze) and a kernel per
   lane count: 4, 8 and 16 for one firm (the bench compares them), 8 (the engine's) for
   several (their right-hand sides are long: each lane count costs gcc tens of seconds). */
#define LANES 1
#define RHS_FN CAT3(rhs, MODEL, 1)
#include MODEL_HEADER
#undef RHS_FN
#undef LANES
#define NS LANES_NS
#define NE LANES_NE
#define ACQ LANES_ACQ
#define RHS_1 CAT3(rhs, MODEL, 1)
#ifdef ALL_WIDTHS
#define LANES 4
#include "width.h"
#undef LANES
#define LANES 16
#include "width.h"
#undef LANES
#endif
#define LANES 8
#include "width.h"
#undef LANES
#undef NS
#undef NE
#undef ACQ
#undef RHS_1
#undef MODEL
#undef MODEL_HEADER
#undef ALL_WIDTHS
