# Finds what the graphferry header needs — libzmq and msgpack-cxx headers —
# and defines the imported target graphferry::dependencies. Used in the
# source tree and by the installed graphferryConfig.cmake.
#
# msgpack-cxx's own CMake package insists on Boost; the header is used with
# MSGPACK_NO_BOOST, so only its include directory is looked up here.
include_guard(GLOBAL)

find_package(Threads REQUIRED)
find_path(GRAPHFERRY_ZMQ_INCLUDE_DIR zmq.h)
find_library(GRAPHFERRY_ZMQ_LIBRARY NAMES zmq libzmq)
find_path(GRAPHFERRY_MSGPACK_INCLUDE_DIR msgpack.hpp)

set(_graphferry_missing "")
if(NOT GRAPHFERRY_ZMQ_INCLUDE_DIR OR NOT GRAPHFERRY_ZMQ_LIBRARY)
  list(APPEND _graphferry_missing "libzmq (Debian: libzmq3-dev)")
endif()
if(NOT GRAPHFERRY_MSGPACK_INCLUDE_DIR)
  list(APPEND _graphferry_missing "msgpack-cxx (Debian: libmsgpack-cxx-dev)")
endif()
if(_graphferry_missing)
  string(REPLACE ";" ", " _graphferry_missing "${_graphferry_missing}")
  set(GRAPHFERRY_DEPENDENCIES_MISSING "${_graphferry_missing}")
  return()
endif()

if(NOT TARGET graphferry::dependencies)
  add_library(graphferry::dependencies INTERFACE IMPORTED)
  set_target_properties(graphferry::dependencies PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${GRAPHFERRY_ZMQ_INCLUDE_DIR};${GRAPHFERRY_MSGPACK_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "MSGPACK_NO_BOOST"
    INTERFACE_LINK_LIBRARIES "${GRAPHFERRY_ZMQ_LIBRARY};Threads::Threads;rt")
endif()
