// Small helpers shared by the cookbook's C++ examples and plugins (TensorRT 8.6).
// Header-only, host code only: compiles with g++ or nvcc.
//   CHECK(call)          CUDA runtime call check: prints the error with file:line and exits with 1
//   cookbook::Logger     an nvinfer1::ILogger printing "[TRT] SEVERITY: message" at or above a severity
//   volume, dataTypeSize, shapeString, printArray
//   saveNpy              writes a .npy file (float, int32_t, int8_t, uint8_t, bool), creating its folder
//   loadFile, saveFile   whole-file binary I/O (for .plan files and calibration caches)
#pragma once

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#define CHECK(call)                                                                                         \
    do                                                                                                      \
    {                                                                                                       \
        cudaError_t const cookbookStatus_ = (call);                                                         \
        if (cookbookStatus_ != cudaSuccess)                                                                 \
        {                                                                                                   \
            std::fprintf(stderr, "CUDA error %s (%s) at %s:%d in `%s`\n", cudaGetErrorName(cookbookStatus_), \
                         cudaGetErrorString(cookbookStatus_), __FILE__, __LINE__, #call);                  \
            std::exit(1);                                                                                   \
        }                                                                                                   \
    } while (0)

namespace cookbook
{

class Logger : public nvinfer1::ILogger
{
public:
    explicit Logger(Severity reportable = Severity::kERROR) : mReportable(reportable) {}

    void log(Severity severity, char const* msg) noexcept override
    {
        if (severity > mReportable)
        {
            return;
        }
        static char const* const names[] = {"INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"};
        int const index = static_cast<int>(severity);
        std::cerr << "[TRT] " << (index >= 0 && index < 5 ? names[index] : "UNKNOWN") << ": " << msg << std::endl;
    }

    Severity mReportable;
};

inline int64_t volume(nvinfer1::Dims const& dims)
{
    int64_t v = 1;
    for (int i = 0; i < dims.nbDims; ++i)
    {
        v *= dims.d[i];
    }
    return v;
}

inline size_t dataTypeSize(nvinfer1::DataType type)
{
    switch (type)
    {
    case nvinfer1::DataType::kFLOAT: return 4;
    case nvinfer1::DataType::kHALF: return 2;
    case nvinfer1::DataType::kINT32: return 4;
    case nvinfer1::DataType::kINT8: return 1;
    case nvinfer1::DataType::kUINT8: return 1;
    case nvinfer1::DataType::kBOOL: return 1;
    case nvinfer1::DataType::kFP8: return 1;
    }
    return 0;
}

inline std::string shapeString(nvinfer1::Dims const& dims)
{
    std::ostringstream s;
    s << "(";
    for (int i = 0; i < dims.nbDims; ++i)
    {
        s << dims.d[i] << (i + 1 < dims.nbDims ? ", " : "");
    }
    s << ")";
    return s.str();
}

// Prints name, shape and the values, one row per last-dimension line, with a blank line between matrices.
template <typename T>
void printArray(T const* data, nvinfer1::Dims const& dims, std::string const& name)
{
    std::cout << name << " " << shapeString(dims) << ":" << std::endl;
    int64_t const n = volume(dims);
    int64_t const row = dims.nbDims > 0 ? dims.d[dims.nbDims - 1] : 1;
    int64_t const matrix = dims.nbDims > 1 ? row * dims.d[dims.nbDims - 2] : row;
    for (int64_t i = 0; i < n; ++i)
    {
        if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>)
        {
            std::cout << static_cast<int>(data[i]);
        }
        else
        {
            std::cout << data[i];
        }
        std::cout << (((i + 1) % row == 0) ? "\n" : " ");
        if (matrix > 0 && (i + 1) % matrix == 0 && i + 1 < n)
        {
            std::cout << "\n";
        }
    }
}

template <typename T>
char const* npyDescr()
{
    if constexpr (std::is_same_v<T, float>) return "<f4";
    else if constexpr (std::is_same_v<T, int32_t>) return "<i4";
    else if constexpr (std::is_same_v<T, int8_t>) return "|i1";
    else if constexpr (std::is_same_v<T, uint8_t>) return "|u1";
    else if constexpr (std::is_same_v<T, bool>) return "|b1";
    else static_assert(sizeof(T) == 0, "saveNpy supports float, int32_t, int8_t, uint8_t and bool");
}

// Writes data (C order, little-endian host) as a NumPy .npy file (format version 1.0); creates the folder.
template <typename T>
bool saveNpy(std::string const& path, T const* data, std::vector<int64_t> const& shape)
{
    std::filesystem::path const file(path);
    if (file.has_parent_path())
    {
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
    }
    std::ostringstream dict;
    dict << "{'descr': '" << npyDescr<T>() << "', 'fortran_order': False, 'shape': (";
    int64_t count = 1;
    for (size_t i = 0; i < shape.size(); ++i)
    {
        dict << shape[i] << (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
        count *= shape[i];
    }
    dict << "), }";
    std::string header = dict.str();
    size_t const unpadded = 10 + header.size() + 1; // magic(6) + version(2) + length(2) + header + '\n'
    header.append((64 - unpadded % 64) % 64, ' ');
    header.push_back('\n');
    std::ofstream out(path, std::ios::binary);
    if (!out)
    {
        return false;
    }
    out.write("\x93NUMPY\x01\x00", 8);
    uint16_t const length = static_cast<uint16_t>(header.size());
    char const lengthBytes[2] = {static_cast<char>(length & 0xff), static_cast<char>(length >> 8)};
    out.write(lengthBytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<char const*>(data), static_cast<std::streamsize>(count * sizeof(T)));
    return static_cast<bool>(out);
}

inline std::vector<char> loadFile(std::string const& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
    {
        return {};
    }
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool saveFile(std::string const& path, void const* data, size_t size)
{
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<char const*>(data), static_cast<std::streamsize>(size));
    return static_cast<bool>(out);
}

} // namespace cookbook
