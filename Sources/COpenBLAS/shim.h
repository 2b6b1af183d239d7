// A module map that names cblas.h directly does not find it on Debian (it lives in an
// alternatives directory that pkg-config reports); an include from a shim does.
#include <cblas.h>
