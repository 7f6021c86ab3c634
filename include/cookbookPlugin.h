// Small helpers shared by the cookbook's TensorRT 8.6 plugins (chapter 05-Plugin). Header-only, host code only:
// compiles with g++ and nvcc (-std=c++17). It includes cookbookHelper.cuh, so a plugin also gets CHECK,
// cookbook::volume, cookbook::dataTypeSize, cookbook::shapeString and cookbook::Logger from there.
//
// API (stable: other examples of the chapter use it; add, do not change):
//   CHECK(call)                       (cookbookHelper.cuh) CUDA call check that prints file:line and exits: for
//                                     host programs and plugin code outside enqueue
//   CHECK_RETURN(call, value)         CUDA call check for plugin methods that must not exit the process: prints
//                                     the error with file:line and returns `value` from the calling function
//                                     (e.g. CHECK_RETURN(cudaGetLastError(), 1) at the end of enqueue)
//   cookbook::BufferWriter w(buffer, size)   bounds-checked writer into a serialization buffer (serialize()):
//       w.write(value)  w.writeArray(pointer, count)  w.writeString(s)   (POD values, host byte order)
//       w.ok()          false once a write did not fit (nothing is written past the end)
//       w.used()        bytes written so far
//   cookbook::BufferReader r(data, length)   bounds-checked reader (the creator's deserializePlugin):
//       r.read<T>()     a POD value (T{} and ok() == false when the buffer is too short)
//       r.readArray(pointer, count)  r.readString()
//       r.ok()          false once a read went past the end
//       r.remaining()   bytes not read yet (a complete read leaves 0)
//   cookbook::serializedSize(values...)     sum of sizeof of POD values (for getSerializationSize)
//   cookbook::findPluginField(fc, name)      the PluginField called `name` in a PluginFieldCollection, or nullptr
//   cookbook::readPluginField(fc, name, type, &value, count = 1)
//                                     copies `count` values of field `name` if it exists, has PluginFieldType
//                                     `type` and at least `count` elements; returns false otherwise (value kept)
//   cookbook::pluginError(pluginName, message)   prints "[plugin NAME] ERROR: message" to stderr
//   cookbook::CreatorBase             an IPluginCreator base holding the namespace and the field collection
//                                     (setPluginNamespace, getPluginNamespace, getFieldNames); a creator derives
//                                     from it, fills mFields in its constructor and calls updateFieldCollection()
//
// Notes for plugin .cu files (seen with nvcc 13.0):
//   - do not put a __global__ kernel in an anonymous namespace of a file that says `using namespace nvinfer1;` at
//     global scope (NvInferRuntime.h has an anonymous namespace too: nvcc's stub code becomes ambiguous); put the
//     kernels and the using-directive inside your own namespace, kernels `static`
//   - nvcc warns (#997) that IPluginV2DynamicExt's methods hide IPluginV2Ext's private final overloads of the same
//     names, which is what the interface intends: the chapter's Makefiles pass -diag-suppress 997
//
// Serialization layout is host byte order with no padding: a plan built on one machine is meant to be loaded on a
// machine of the same kind (TensorRT plans are not portable across GPUs or TensorRT versions anyway).
#pragma once

#include "cookbookHelper.cuh"

#include <NvInfer.h>
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#define CHECK_RETURN(call, value)                                                                           \
    do                                                                                                      \
    {                                                                                                       \
        cudaError_t const cookbookStatus_ = (call);                                                         \
        if (cookbookStatus_ != cudaSuccess)                                                                 \
        {                                                                                                   \
            std::fprintf(stderr, "CUDA error %s (%s) at %s:%d in `%s`\n", cudaGetErrorName(cookbookStatus_), \
                         cudaGetErrorString(cookbookStatus_), __FILE__, __LINE__, #call);                  \
            return (value);                                                                                 \
        }                                                                                                   \
    } while (0)

namespace cookbook
{

inline void pluginError(char const* pluginName, char const* message) noexcept
{
    std::fprintf(stderr, "[plugin %s] ERROR: %s\n", pluginName, message);
    std::fflush(stderr);
}

// Sum of the sizes of POD values, e.g. serializedSize(mScalar, mCount) for getSerializationSize().
inline constexpr size_t serializedSize() noexcept
{
    return 0;
}
template <typename T, typename... Rest>
inline constexpr size_t serializedSize(T const&, Rest const&... rest) noexcept
{
    static_assert(std::is_trivially_copyable<T>::value, "serializedSize: plain data only");
    return sizeof(T) + serializedSize(rest...);
}

class BufferWriter
{
public:
    BufferWriter(void* buffer, size_t size) noexcept : mBegin(static_cast<char*>(buffer)), mSize(size) {}

    template <typename T>
    void write(T const& value) noexcept
    {
        static_assert(std::is_trivially_copyable<T>::value, "BufferWriter::write: plain data only");
        writeBytes(&value, sizeof(T));
    }

    template <typename T>
    void writeArray(T const* values, size_t count) noexcept
    {
        static_assert(std::is_trivially_copyable<T>::value, "BufferWriter::writeArray: plain data only");
        writeBytes(values, sizeof(T) * count);
    }

    // Length (int32_t) followed by the characters, no terminating zero.
    void writeString(std::string const& s) noexcept
    {
        write(static_cast<int32_t>(s.size()));
        writeBytes(s.data(), s.size());
    }

    bool ok() const noexcept
    {
        return mOk;
    }
    size_t used() const noexcept
    {
        return mUsed;
    }

private:
    void writeBytes(void const* data, size_t n) noexcept
    {
        if (!mOk || mBegin == nullptr || mUsed + n > mSize)
        {
            mOk = false;
            return;
        }
        if (n > 0)
        {
            std::memcpy(mBegin + mUsed, data, n);
        }
        mUsed += n;
    }

    char* mBegin;
    size_t mSize;
    size_t mUsed{0};
    bool mOk{true};
};

class BufferReader
{
public:
    BufferReader(void const* data, size_t length) noexcept : mBegin(static_cast<char const*>(data)), mSize(length) {}

    template <typename T>
    T read() noexcept
    {
        static_assert(std::is_trivially_copyable<T>::value, "BufferReader::read: plain data only");
        T value{};
        readBytes(&value, sizeof(T));
        return value;
    }

    template <typename T>
    void readArray(T* values, size_t count) noexcept
    {
        static_assert(std::is_trivially_copyable<T>::value, "BufferReader::readArray: plain data only");
        readBytes(values, sizeof(T) * count);
    }

    std::string readString() noexcept
    {
        int32_t const n = read<int32_t>();
        if (!mOk || n < 0 || static_cast<size_t>(n) > remaining())
        {
            mOk = false;
            return {};
        }
        std::string s(mBegin + mUsed, static_cast<size_t>(n));
        mUsed += static_cast<size_t>(n);
        return s;
    }

    bool ok() const noexcept
    {
        return mOk;
    }
    size_t remaining() const noexcept
    {
        return mSize - mUsed;
    }

private:
    void readBytes(void* data, size_t n) noexcept
    {
        if (!mOk || mBegin == nullptr || mUsed + n > mSize)
        {
            mOk = false;
            return;
        }
        if (n > 0)
        {
            std::memcpy(data, mBegin + mUsed, n);
        }
        mUsed += n;
    }

    char const* mBegin;
    size_t mSize;
    size_t mUsed{0};
    bool mOk{true};
};

inline nvinfer1::PluginField const* findPluginField(nvinfer1::PluginFieldCollection const* fc, char const* name) noexcept
{
    if (fc == nullptr || name == nullptr)
    {
        return nullptr;
    }
    for (int32_t i = 0; i < fc->nbFields; ++i)
    {
        if (fc->fields[i].name != nullptr && std::strcmp(fc->fields[i].name, name) == 0)
        {
            return &fc->fields[i];
        }
    }
    return nullptr;
}

template <typename T>
bool readPluginField(nvinfer1::PluginFieldCollection const* fc, char const* name, nvinfer1::PluginFieldType type,
                     T* value, int32_t count = 1) noexcept
{
    static_assert(std::is_trivially_copyable<T>::value, "readPluginField: plain data only");
    nvinfer1::PluginField const* field = findPluginField(fc, name);
    if (field == nullptr || field->type != type || field->data == nullptr || field->length < count)
    {
        return false;
    }
    std::memcpy(value, field->data, sizeof(T) * static_cast<size_t>(count));
    return true;
}

// The bookkeeping every IPluginCreator repeats. A creator derives from it, fills mFields (name, nullptr, type,
// length: the attributes its createPlugin reads) in its constructor and calls updateFieldCollection().
class CreatorBase : public nvinfer1::IPluginCreator
{
public:
    void setPluginNamespace(nvinfer1::AsciiChar const* pluginNamespace) noexcept override
    {
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }
    nvinfer1::AsciiChar const* getPluginNamespace() const noexcept override
    {
        return mNamespace.c_str();
    }
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return &mFieldCollection;
    }

protected:
    void updateFieldCollection() noexcept
    {
        mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
        mFieldCollection.fields = mFields.data();
    }

    std::string mNamespace;
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mFieldCollection{0, nullptr};
};

} // namespace cookbook
