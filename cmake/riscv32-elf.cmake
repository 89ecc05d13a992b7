# CMake toolchain file: bare-metal RV32IMAC with Debian's riscv64-unknown-elf GCC (multilib).
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/riscv32-elf.cmake ...
#
# -march=rv32imac exactly: with rv32imac_zicsr the driver silently picks the rv64 libraries.
# -misa-spec=2.2 keeps the CSR instructions (csrr minstret, csrrci mstatus) part of the base ISA,
# so the interrupt lock port and the instruction counters assemble without _zicsr.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_ASM_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_AR riscv64-unknown-elf-ar CACHE FILEPATH "")
set(CMAKE_RANLIB riscv64-unknown-elf-ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY riscv64-unknown-elf-objcopy CACHE FILEPATH "")
set(CMAKE_SIZE riscv64-unknown-elf-size CACHE FILEPATH "")
set(CMAKE_NM riscv64-unknown-elf-nm CACHE FILEPATH "")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(_capheap_rv_flags "-march=rv32imac -mabi=ilp32 -mcmodel=medany -misa-spec=2.2")
# picolibc is the C library Debian ships for this compiler: its specs file gives the include path.
set(_capheap_rv_libc "--specs=picolibc.specs")
set(CMAKE_C_FLAGS_INIT "${_capheap_rv_flags} ${_capheap_rv_libc} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${_capheap_rv_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_capheap_rv_flags} -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
