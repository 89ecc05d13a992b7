# CMake toolchain file: bare-metal Arm Cortex-M with the Debian arm-none-eabi GCC.
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DCAPHEAP_ARM_CPU=cortex-m4 ...
#
# CAPHEAP_ARM_CPU picks the core and with it the multilib (newlib/picolibc variant):
#   cortex-m3  (QEMU mps2-an385)  -mcpu=cortex-m3 -mthumb            (soft float)
#   cortex-m4  (QEMU mps2-an386)  -mcpu=cortex-m4 -mthumb + FPv4-SP, hard-float ABI
#   cortex-m0  -mcpu=cortex-m0 -mthumb (ARMv6-M: no QEMU mps2 board, build only)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "")
# The compiler cannot link a program without a board's startup code and linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CAPHEAP_ARM_CPU "cortex-m3" CACHE STRING "Cortex-M core: cortex-m0, cortex-m3 or cortex-m4")
if(CAPHEAP_ARM_CPU STREQUAL "cortex-m4")
  set(_capheap_cpu_flags "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
elseif(CAPHEAP_ARM_CPU STREQUAL "cortex-m3")
  set(_capheap_cpu_flags "-mcpu=cortex-m3 -mthumb")
elseif(CAPHEAP_ARM_CPU STREQUAL "cortex-m0")
  set(_capheap_cpu_flags "-mcpu=cortex-m0 -mthumb")
else()
  message(FATAL_ERROR "CAPHEAP_ARM_CPU: unknown core '${CAPHEAP_ARM_CPU}'")
endif()
set(CMAKE_C_FLAGS_INIT "${_capheap_cpu_flags} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${_capheap_cpu_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_capheap_cpu_flags} -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
