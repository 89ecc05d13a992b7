# Helpers for the firmware projects (examples/mps2-an385, examples/rv32-virt, tests/target/fw).
#
# A project sets CAPHEAP_BOARD before including this file:
#   an385  QEMU mps2-an385, Cortex-M3,  newlib + semihosting (toolchain arm-none-eabi.cmake,
#          CAPHEAP_ARM_CPU=cortex-m3)
#   an386  QEMU mps2-an386, Cortex-M4F, newlib + semihosting (CAPHEAP_ARM_CPU=cortex-m4)
#   rv32   QEMU virt (riscv32), RV32IMAC, picolibc + semihosting (toolchain riscv32-elf.cmake)
#
#   capheap_add_core(<lib> [DEFINES ...] [INCLUDES ...])
#                                               the core (src/capheap.c, src/capheap_report.c)
#                                               as a static library, with the project's
#                                               warning flags as errors
#   capheap_add_firmware(<exe> SOURCES ... [CORE <lib>] [DEFINES ...] [NO_LIBC_LAYER])
#                                               a bootable ELF for the board: startup code,
#                                               linker script, libc layer from libc/, a map file
include_guard(GLOBAL)

get_filename_component(CAPHEAP_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(CAPHEAP_SRC_DIR "${CAPHEAP_ROOT}/src" CACHE PATH "Directory holding capheap.c and capheap_report.c")

# The core must build warning-free with these on every target.
set(CAPHEAP_CORE_WARNINGS -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
    -Wcast-align -Wstrict-prototypes -Wmissing-prototypes -Werror -ffreestanding)
# Firmware and libc layers: the same, minus -Wpedantic (startup code needs GNU attributes/asm).
set(CAPHEAP_FW_WARNINGS -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow -Werror)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O2 -g")
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)

if(NOT DEFINED CAPHEAP_BOARD)
  message(FATAL_ERROR "set CAPHEAP_BOARD (an385, an386 or rv32) before including capheap-firmware.cmake")
endif()

if(CAPHEAP_BOARD STREQUAL "an385" OR CAPHEAP_BOARD STREQUAL "an386")
  if(NOT CMAKE_SYSTEM_PROCESSOR STREQUAL "arm")
    message(FATAL_ERROR "board ${CAPHEAP_BOARD} needs -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake")
  endif()
  if(CAPHEAP_BOARD STREQUAL "an386" AND NOT CAPHEAP_ARM_CPU STREQUAL "cortex-m4")
    message(FATAL_ERROR "board an386 is a Cortex-M4F: configure with -DCAPHEAP_ARM_CPU=cortex-m4")
  endif()
  if(CAPHEAP_BOARD STREQUAL "an385" AND NOT CAPHEAP_ARM_CPU STREQUAL "cortex-m3")
    message(FATAL_ERROR "board an385 is a Cortex-M3: configure with -DCAPHEAP_ARM_CPU=cortex-m3")
  endif()
  set(CAPHEAP_LIBC newlib)
  set(CAPHEAP_BOARD_DIR "${CAPHEAP_ROOT}/examples/mps2-an385")
  set(CAPHEAP_BOARD_STARTUP "${CAPHEAP_BOARD_DIR}/startup.c")
  set(CAPHEAP_BOARD_LDSCRIPT "${CAPHEAP_BOARD_DIR}/mps2.ld")
  set(CAPHEAP_BOARD_LINK_OPTIONS --specs=rdimon.specs -nostartfiles)
  set(CAPHEAP_LIBC_LAYER "${CAPHEAP_ROOT}/libc/newlib/capheap_newlib.c")
elseif(CAPHEAP_BOARD STREQUAL "rv32")
  if(NOT CMAKE_SYSTEM_PROCESSOR STREQUAL "riscv32")
    message(FATAL_ERROR "board rv32 needs -DCMAKE_TOOLCHAIN_FILE=cmake/riscv32-elf.cmake")
  endif()
  set(CAPHEAP_LIBC picolibc)
  set(CAPHEAP_BOARD_DIR "${CAPHEAP_ROOT}/examples/rv32-virt")
  set(CAPHEAP_BOARD_STARTUP "")
  set(CAPHEAP_BOARD_LDSCRIPT "${CAPHEAP_BOARD_DIR}/rv32-virt.ld")
  # --specs=picolibc.specs comes with the toolchain file's C flags (used for linking too).
  set(CAPHEAP_BOARD_LINK_OPTIONS --oslib=semihost --crt0=semihost)
  set(CAPHEAP_LIBC_LAYER "${CAPHEAP_ROOT}/libc/picolibc/capheap_picolibc.c")
else()
  message(FATAL_ERROR "unknown CAPHEAP_BOARD '${CAPHEAP_BOARD}' (an385, an386, rv32)")
endif()

function(capheap_add_core name)
  cmake_parse_arguments(A "" "" "DEFINES;INCLUDES" ${ARGN})
  add_library(${name} STATIC "${CAPHEAP_SRC_DIR}/capheap.c" "${CAPHEAP_SRC_DIR}/capheap_report.c")
  target_include_directories(${name} PUBLIC "${CAPHEAP_ROOT}/include" "${CAPHEAP_ROOT}/ports" ${A_INCLUDES})
  target_compile_options(${name} PRIVATE ${CAPHEAP_CORE_WARNINGS})
  target_compile_definitions(${name} PUBLIC ${A_DEFINES})
endfunction()

function(capheap_add_firmware name)
  cmake_parse_arguments(A "NO_LIBC_LAYER" "CORE" "SOURCES;DEFINES" ${ARGN})
  if(NOT A_CORE)
    set(A_CORE capheap_core)
  endif()
  set(srcs ${A_SOURCES})
  if(CAPHEAP_BOARD_STARTUP)
    list(APPEND srcs "${CAPHEAP_BOARD_STARTUP}")
  endif()
  if(NOT A_NO_LIBC_LAYER)
    list(APPEND srcs "${CAPHEAP_LIBC_LAYER}")
  endif()
  add_executable(${name} ${srcs})
  set_target_properties(${name} PROPERTIES SUFFIX ".elf" LINK_DEPENDS "${CAPHEAP_BOARD_LDSCRIPT}")
  target_compile_options(${name} PRIVATE ${CAPHEAP_FW_WARNINGS})
  target_compile_definitions(${name} PRIVATE ${A_DEFINES})
  target_link_libraries(${name} PRIVATE ${A_CORE})
  target_link_options(${name} PRIVATE ${CAPHEAP_BOARD_LINK_OPTIONS}
    "-T${CAPHEAP_BOARD_LDSCRIPT}" "-Wl,-Map=$<TARGET_FILE_DIR:${name}>/${name}.map"
    -Wl,--no-warn-rwx-segments)
endfunction()
