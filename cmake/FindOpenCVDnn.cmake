# Debian's libopencv-dnn-dev ships no CMake config; find the headers and libraries directly.
find_path(OPENCV_DNN_INCLUDE_DIR opencv2/dnn.hpp PATH_SUFFIXES opencv4)
find_library(OPENCV_DNN_LIBRARY opencv_dnn)
find_library(OPENCV_CORE_LIBRARY opencv_core)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVDnn DEFAULT_MSG OPENCV_DNN_LIBRARY OPENCV_CORE_LIBRARY OPENCV_DNN_INCLUDE_DIR)
if(OpenCVDnn_FOUND AND NOT TARGET opencv::dnn)
  add_library(opencv::dnn INTERFACE IMPORTED)
  set_target_properties(opencv::dnn PROPERTIES
    INTERFACE_LINK_LIBRARIES "${OPENCV_DNN_LIBRARY};${OPENCV_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES ${OPENCV_DNN_INCLUDE_DIR})
endif()
