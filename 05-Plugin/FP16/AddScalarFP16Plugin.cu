// 05-Plugin/FP16: AddScalar (output = input + scalar) offering three type/format combinations to the builder:
//   FP32, linear (kLINEAR)
//   FP16, linear (kLINEAR)
//   FP16, kHWC8: channels padded to a multiple of 8, stored innermost (N, H, W, C/8 rounded up * 8), 4-D tensors only
// with a float kernel and a half kernel. Input and output always share type and format, so the kernel can walk the
// buffer element by element whatever the layout: only the element count differs (kHWC8 counts the padding).
// TensorRT offers kHALF combinations only when the builder may use FP16 (BuilderFlag.FP16). The methods every plugin
// has are explained in ../AddScalar/AddScalarPlugin.cu.
#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <string>

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"AddScalarFP16"};
static char const* const kPLUGIN_VERSION{"1"};

static __global__ void addScalarFloat(float const* input, float* output, float const scalar, int64_t const n)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < n)
    {
        output[index] = input[index] + scalar;
    }
}

static __global__ void addScalarHalf(__half const* input, __half* output, __half const scalar, int64_t const n)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < n)
    {
        output[index] = __hadd(input[index], scalar);  // half arithmetic, rounded to half
    }
}

class AddScalarFP16Plugin : public IPluginV2DynamicExt
{
public:
    AddScalarFP16Plugin(std::string const& name, float scalar) : mName(name), mScalar(scalar) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kPLUGIN_NAME;
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }
    int32_t initialize() noexcept override
    {
        return 0;
    }
    void terminate() noexcept override {}
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mScalar);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter writer(buffer, getSerializationSize());
        writer.write(mScalar);
    }
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
    // The output type follows the input type (FP32 -> FP32, FP16 -> FP16). This is what the network sees; the
    // builder may still choose another combination that supportsFormatCombination accepts.
    DataType getOutputDataType(int32_t /*index*/, DataType const* inputTypes, int32_t /*nbInputs*/) const noexcept override
    {
        return inputTypes[0];
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = new AddScalarFP16Plugin(mName, mScalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    DimsExprs getOutputDimensions(int32_t /*outputIndex*/, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& /*exprBuilder*/) noexcept override
    {
        return inputs[0];
    }

    // pos 0 (the input): FP32 linear, FP16 linear, or FP16 kHWC8 for a 4-D tensor. pos 1 (the output): exactly the
    // input's type and format. The builder times every accepted combination (plus the reformatting it needs around
    // the plugin) and keeps the fastest.
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        PluginTensorDesc const& desc = inOut[pos];
        if (pos == 0)
        {
            return (desc.type == DataType::kFLOAT && desc.format == TensorFormat::kLINEAR)
                || (desc.type == DataType::kHALF && desc.format == TensorFormat::kLINEAR)
                || (desc.type == DataType::kHALF && desc.format == TensorFormat::kHWC8 && desc.dims.nbDims == 4);
        }
        return desc.type == inOut[0].type && desc.format == inOut[0].format;
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

    // The descriptors say which combination the builder chose: pick the kernel and the element count from them.
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                    void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override
    {
        Dims const& d = inputDesc[0].dims;
        int64_t n = volume(d);
        if (inputDesc[0].format == TensorFormat::kHWC8)  // N, H, W, C rounded up to a multiple of 8
        {
            n = static_cast<int64_t>(d.d[0]) * d.d[2] * d.d[3] * ((d.d[1] + 7) / 8 * 8);
        }
        if (n == 0)
        {
            return 0;
        }
        auto const nBlock = static_cast<uint32_t>((n + 255) / 256);
        if (inputDesc[0].type == DataType::kFLOAT)
        {
            addScalarFloat<<<nBlock, 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
                                                       static_cast<float*>(outputs[0]), mScalar, n);
        }
        else
        {
            addScalarHalf<<<nBlock, 256, 0, stream>>>(static_cast<__half const*>(inputs[0]),
                                                      static_cast<__half*>(outputs[0]), __float2half(mScalar), n);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    std::string mName;
    std::string mNamespace;
    float mScalar;
};

class AddScalarFP16PluginCreator : public CreatorBase
{
public:
    AddScalarFP16PluginCreator()
    {
        mFields.emplace_back("scalar", nullptr, PluginFieldType::kFLOAT32, 1);
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kPLUGIN_NAME;
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    IPluginV2* createPlugin(AsciiChar const* name, PluginFieldCollection const* fc) noexcept override
    {
        float scalar = 0.F;
        if (!readPluginField(fc, "scalar", PluginFieldType::kFLOAT32, &scalar))
        {
            pluginError(kPLUGIN_NAME, "createPlugin needs the field \"scalar\" (FLOAT32, length 1)");
            return nullptr;
        }
        auto* plugin = new AddScalarFP16Plugin(name, scalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override
    {
        BufferReader reader(serialData, serialLength);
        float const scalar = reader.read<float>();
        if (!reader.ok() || reader.remaining() != 0)
        {
            pluginError(kPLUGIN_NAME, "the serialized data has the wrong length");
            return nullptr;
        }
        auto* plugin = new AddScalarFP16Plugin(name, scalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

REGISTER_TENSORRT_PLUGIN(AddScalarFP16PluginCreator);

} // namespace cookbook
