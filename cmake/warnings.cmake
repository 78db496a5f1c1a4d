# Our own code builds warning-free; third-party headers come in as SYSTEM and stay out of this.
add_library(vgd_warnings INTERFACE)
target_compile_options(vgd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Werror)

# Clang's thread-safety analysis (src/util/thread_annotations.h): the `threads` preset turns its
# findings into errors.
option(VGD_THREAD_SAFETY "Build with clang's -Werror=thread-safety" OFF)
if(VGD_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VGD_THREAD_SAFETY needs clang (the `threads` preset uses clang++-14)")
  endif()
  target_compile_options(vgd_warnings INTERFACE -Wthread-safety -Werror=thread-safety)
endif()
