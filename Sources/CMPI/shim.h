// Open MPI's C API, from Debian's libopenmpi-dev (`make setup` installs it). Its handles are
// macros over global objects, which Swift cannot import: these functions hand them over.
#include <mpi.h>

static inline MPI_Comm npusim_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype npusim_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype npusim_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Request npusim_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *npusim_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int npusim_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline void *npusim_mpi_in_place(void) { return MPI_IN_PLACE; }
