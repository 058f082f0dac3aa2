# One static library per layer, built from every .cpp in src/<layer>/ (one concern per file),
# so adding a file to a layer needs no CMake edit.
function(pagellm_add_layer layer)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${layer}/*.cpp)
  set(_target pagellm_${layer})
  if(_srcs)
    add_library(${_target} STATIC ${_srcs})
    target_include_directories(${_target} PUBLIC ${PROJECT_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    target_compile_options(${_target} PRIVATE ${PAGELLM_WARNINGS})
    target_link_libraries(${_target} PUBLIC ${ARG_DEPS})
  else()
    add_library(${_target} INTERFACE)
    target_include_directories(${_target} INTERFACE ${PROJECT_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    target_link_libraries(${_target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# One GoogleTest binary per tests/<layer>/test_*.cpp, labelled with its layer so `ctest -L loader` runs a subset.
function(pagellm_add_tests layer)
  cmake_parse_arguments(ARG "NEEDS_BINARY" "" "DEPS;LABELS" ${ARGN})
  file(GLOB _tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${layer}/test_*.cpp)
  foreach(_t ${_tests})
    get_filename_component(_name ${_t} NAME_WE)
    set(_exe ${layer}_${_name})
    add_executable(${_exe} ${_t})
    target_compile_options(${_exe} PRIVATE ${PAGELLM_WARNINGS})
    target_include_directories(${_exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${_exe} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
    if(ARG_NEEDS_BINARY)
      add_dependencies(${_exe} pagellm)
    endif()
    add_test(NAME ${_exe} COMMAND ${_exe})
    set_tests_properties(${_exe} PROPERTIES
      LABELS "${layer};${ARG_LABELS}"
      # Passive OpenMP waits: ctest runs tests in parallel, and spinning threads on 2 cores starve each other.
      ENVIRONMENT "PAGELLM_SHARED_DIR=${PAGELLM_SHARED_DIR};PAGELLM_SOURCE_DIR=${PROJECT_SOURCE_DIR};PAGELLM_BIN=$<TARGET_FILE:pagellm>;OMP_WAIT_POLICY=PASSIVE")
  endforeach()
endfunction()
