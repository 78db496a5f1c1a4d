if(VGD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
# libFuzzer builds instrument every library, not only the harness: without this the fuzzer gets
# no coverage feedback from the code under test and ASan does not check its memory accesses.
# UBSan findings abort so that libFuzzer reports them as crashes instead of printing and going on.
# Per-pixel loops are left out of the coverage instrumentation (fuzz/coverage_ignorelist.txt).
if(VGD_BUILD_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all
                      -fsanitize-coverage-ignorelist=${PROJECT_SOURCE_DIR}/fuzz/coverage_ignorelist.txt)
  add_link_options(-fsanitize=address,undefined)
endif()
