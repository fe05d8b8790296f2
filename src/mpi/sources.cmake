# SPDX-License-Identifier: MIT
# spool-mpi's sources (the optional component; see cmake/SpoolMPI.cmake).
list(APPEND SPOOL_MPI_SOURCES
  src/mpi/common.c
  src/mpi/engine.c
  src/mpi/executor.c
  src/mpi/blocks.c
  src/mpi/registry.c)
