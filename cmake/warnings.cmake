# Our own code builds warning-free; third-party headers come in as SYSTEM and stay out of this.
add_library(vgd_warnings INTERFACE)
target_compile_options(vgd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Werror)
