// 05-Plugin/IntBoolShapeInput: plugins with integer inputs and outputs, and what TensorRT 8.6 does with BOOL tensors
// and shape tensors around a plugin. Two plugins in one library (REGISTER_TENSORRT_PLUGIN once per creator):
//
// MaskedFill (version 1), field "value" (FLOAT32) and "bool_mask" (INT32, 0 or 1):
//   inputs   data [N, L] FLOAT, mask [N, L] INT32 (or BOOL when bool_mask = 1), length [N] INT32
//   output 0 [N, L] FLOAT: value where mask[n, l] != 0 or l >= length[n], else data[n, l]
//   output 1 [N] INT32: how many elements of row n were kept
//   NvInferRuntimePlugin.h says of PluginTensorDesc::type: "DataType:kBOOL and DataType::kUINT8 are not supported".
//   With bool_mask = 1, supportsFormatCombination accepts a BOOL mask: main.py shows what the builder does then.
//
// ShapeEcho (version 1), no fields:
//   input 0  a 1-D INT32 tensor, e.g. the output of network.add_shape(x)
//   output 0 the same values, INT32 (copied on the device)
//   A plugin gets its inputs' values only in enqueue, on the device; getOutputDimensions sees their dimensions only
//   (DimsExprs), so an IPluginV2DynamicExt cannot make an output shape from the values of a shape tensor, and its
//   outputs cannot serve as shape tensors.
//
// The methods every plugin has are explained in ../AddScalar/AddScalarPlugin.cu.
#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <string>

namespace cookbook
{
using namespace nvinfer1;

template <typename Mask>
static __global__ void maskedFillKernel(float const* data, Mask const* mask, int32_t const* length, float* out,
                                        int32_t* kept, int32_t N, int32_t L, float value)
{
    int32_t const n = blockIdx.x;  // one block per row, threads over the row, a shared counter
    if (n >= N)
    {
        return;
    }
    __shared__ int32_t count;
    if (threadIdx.x == 0)
    {
        count = 0;
    }
    __syncthreads();
    for (int32_t l = threadIdx.x; l < L; l += blockDim.x)
    {
        int64_t const i = static_cast<int64_t>(n) * L + l;
        bool const fill = mask[i] != 0 || l >= length[n];
        out[i] = fill ? value : data[i];
        if (!fill)
        {
            atomicAdd(&count, 1);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0)
    {
        kept[n] = count;
    }
}

// A base for the two plugins: name, namespace, and the methods that are the same.
template <typename Derived>
class SimplePlugin : public IPluginV2DynamicExt
{
public:
    explicit SimplePlugin(std::string const& name) : mName(name) {}
    int32_t initialize() noexcept override
    {
        return 0;
    }
    void terminate() noexcept override {}
    void destroy() noexcept override
    {
        delete this;
    }
    void setPluginNamespace(AsciiChar const* pluginNamespace) noexcept override
    {
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }
    AsciiChar const* getPluginNamespace() const noexcept override
    {
        return mNamespace.c_str();
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = new Derived(static_cast<Derived const&>(*this));
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    void configurePlugin(DynamicPluginTensorDesc const* /*in*/, int32_t /*nbInputs*/, DynamicPluginTensorDesc const* /*out*/,
                         int32_t /*nbOutputs*/) noexcept override
    {
    }
    size_t getWorkspaceSize(PluginTensorDesc const* /*inputs*/, int32_t /*nbInputs*/, PluginTensorDesc const* /*outputs*/,
                            int32_t /*nbOutputs*/) const noexcept override
    {
        return 0;
    }

protected:
    std::string mName;
    std::string mNamespace;
};

class MaskedFillPlugin : public SimplePlugin<MaskedFillPlugin>
{
public:
    MaskedFillPlugin(std::string const& name, float value, int32_t boolMask)
        : SimplePlugin(name), mValue(value), mBoolMask(boolMask)
    {
    }
    AsciiChar const* getPluginType() const noexcept override
    {
        return "MaskedFill";
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
    int32_t getNbOutputs() const noexcept override
    {
        return 2;
    }
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mValue, mBoolMask);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter writer(buffer, getSerializationSize());
        writer.write(mValue);
        writer.write(mBoolMask);
    }
    DataType getOutputDataType(int32_t index, DataType const* /*inputTypes*/, int32_t /*nbInputs*/) const noexcept override
    {
        return index == 0 ? DataType::kFLOAT : DataType::kINT32;
    }
    DimsExprs getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& /*exprBuilder*/) noexcept override
    {
        return outputIndex == 0 ? inputs[0] : inputs[2];  // [N, L] like data, [N] like length
    }
    // pos: 0 data, 1 mask, 2 length (inputs), 3 filled, 4 kept (outputs). Linear everywhere.
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        if (inOut[pos].format != TensorFormat::kLINEAR)
        {
            return false;
        }
        switch (pos)
        {
        case 0:
        case 3: return inOut[pos].type == DataType::kFLOAT;
        case 1: return inOut[pos].type == (mBoolMask != 0 ? DataType::kBOOL : DataType::kINT32);
        case 2:
        case 4: return inOut[pos].type == DataType::kINT32;
        default: return false;
        }
    }
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                    void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override
    {
        int32_t const N = inputDesc[0].dims.d[0], L = inputDesc[0].dims.d[1];
        if (N == 0)
        {
            return 0;
        }
        auto const* data = static_cast<float const*>(inputs[0]);
        auto const* length = static_cast<int32_t const*>(inputs[2]);
        auto* out = static_cast<float*>(outputs[0]);
        auto* kept = static_cast<int32_t*>(outputs[1]);
        if (inputDesc[1].type == DataType::kBOOL)
        {
            maskedFillKernel<<<N, 128, 0, stream>>>(data, static_cast<bool const*>(inputs[1]), length, out, kept, N, L,
                                                    mValue);
        }
        else
        {
            maskedFillKernel<<<N, 128, 0, stream>>>(data, static_cast<int32_t const*>(inputs[1]), length, out, kept, N,
                                                    L, mValue);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    float mValue;
    int32_t mBoolMask;
};

class ShapeEchoPlugin : public SimplePlugin<ShapeEchoPlugin>
{
public:
    explicit ShapeEchoPlugin(std::string const& name) : SimplePlugin(name) {}
    AsciiChar const* getPluginType() const noexcept override
    {
        return "ShapeEcho";
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }
    size_t getSerializationSize() const noexcept override
    {
        return 0;
    }
    void serialize(void* /*buffer*/) const noexcept override {}
    DataType getOutputDataType(int32_t /*index*/, DataType const* /*inputTypes*/, int32_t /*nbInputs*/) const noexcept override
    {
        return DataType::kINT32;
    }
    // Only the input's dimensions are known here ([2] for the shape of a 2-D tensor), never its values.
    DimsExprs getOutputDimensions(int32_t /*outputIndex*/, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& /*exprBuilder*/) noexcept override
    {
        return inputs[0];
    }
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        return inOut[pos].type == DataType::kINT32 && inOut[pos].format == TensorFormat::kLINEAR;
    }
    // The values arrive here, in device memory.
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                    void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override
    {
        size_t const bytes = sizeof(int32_t) * static_cast<size_t>(volume(inputDesc[0].dims));
        CHECK_RETURN(cudaMemcpyAsync(outputs[0], inputs[0], bytes, cudaMemcpyDeviceToDevice, stream), 1);
        return 0;
    }
};

class MaskedFillPluginCreator : public CreatorBase
{
public:
    MaskedFillPluginCreator()
    {
        mFields.emplace_back("value", nullptr, PluginFieldType::kFLOAT32, 1);
        mFields.emplace_back("bool_mask", nullptr, PluginFieldType::kINT32, 1);
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return "MaskedFill";
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
    IPluginV2* createPlugin(AsciiChar const* name, PluginFieldCollection const* fc) noexcept override
    {
        float value = 0.F;
        int32_t boolMask = 0;  // optional
        if (!readPluginField(fc, "value", PluginFieldType::kFLOAT32, &value))
        {
            pluginError("MaskedFill", "createPlugin needs the field \"value\" (FLOAT32, length 1)");
            return nullptr;
        }
        readPluginField(fc, "bool_mask", PluginFieldType::kINT32, &boolMask);
        auto* plugin = new MaskedFillPlugin(name, value, boolMask);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override
    {
        BufferReader reader(serialData, serialLength);
        float const value = reader.read<float>();
        int32_t const boolMask = reader.read<int32_t>();
        if (!reader.ok() || reader.remaining() != 0)
        {
            pluginError("MaskedFill", "the serialized data has the wrong length");
            return nullptr;
        }
        auto* plugin = new MaskedFillPlugin(name, value, boolMask);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

class ShapeEchoPluginCreator : public CreatorBase
{
public:
    ShapeEchoPluginCreator()
    {
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return "ShapeEcho";
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
    IPluginV2* createPlugin(AsciiChar const* name, PluginFieldCollection const* /*fc*/) noexcept override
    {
        auto* plugin = new ShapeEchoPlugin(name);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const* name, void const* /*serialData*/, size_t /*serialLength*/) noexcept override
    {
        auto* plugin = new ShapeEchoPlugin(name);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

REGISTER_TENSORRT_PLUGIN(MaskedFillPluginCreator);
REGISTER_TENSORRT_PLUGIN(ShapeEchoPluginCreator);

} // namespace cookbook
