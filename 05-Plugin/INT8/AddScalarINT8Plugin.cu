// 05-Plugin/INT8: AddScalar (output = input + scalar) offering FP32 linear and INT8 linear (input and output alike).
// In INT8, TensorRT gives the plugin quantized values and their per-tensor scales (PluginTensorDesc::scale, the
// dynamic range / 127 from calibration, set_dynamic_range or Q/DQ): real value = int8 value * scale. The INT8
// kernel dequantizes, adds, and requantizes with the output's scale (round to nearest even, clamp to [-128, 127]).
// The FP32 path is needed too: calibration runs the network in FP32 to measure the ranges.
// The first enqueue of each type prints one line, so the log shows which kernel calibration and inference used.
// The methods every plugin has are explained in ../AddScalar/AddScalarPlugin.cu.
#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"AddScalarINT8"};
static char const* const kPLUGIN_VERSION{"1"};

static __global__ void addScalarFloat(float const* input, float* output, float const scalar, int64_t const n)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < n)
    {
        output[index] = input[index] + scalar;
    }
}

static __global__ void addScalarInt8(int8_t const* input, int8_t* output, float const scalar, float const inScale,
                                     float const outScale, int64_t const n)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < n)
    {
        float const value = static_cast<float>(input[index]) * inScale + scalar;
        output[index] = static_cast<int8_t>(fminf(fmaxf(rintf(value / outScale), -128.F), 127.F));
    }
}

static std::atomic<bool> gPrintedFloat{false}, gPrintedInt8{false};

class AddScalarINT8Plugin : public IPluginV2DynamicExt
{
public:
    AddScalarINT8Plugin(std::string const& name, float scalar) : mName(name), mScalar(scalar) {}

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
    DataType getOutputDataType(int32_t /*index*/, DataType const* inputTypes, int32_t /*nbInputs*/) const noexcept override
    {
        return inputTypes[0];
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = new AddScalarINT8Plugin(mName, mScalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    DimsExprs getOutputDimensions(int32_t /*outputIndex*/, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& /*exprBuilder*/) noexcept override
    {
        return inputs[0];
    }

    // FP32 linear or INT8 linear, the output like the input. TensorRT offers kINT8 only with BuilderFlag.INT8.
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        PluginTensorDesc const& desc = inOut[pos];
        if (desc.format != TensorFormat::kLINEAR)
        {
            return false;
        }
        if (pos == 0)
        {
            return desc.type == DataType::kFLOAT || desc.type == DataType::kINT8;
        }
        return desc.type == inOut[0].type;
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

    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc, void const* const* inputs,
                    void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override
    {
        int64_t const n = volume(inputDesc[0].dims);
        if (n == 0)
        {
            return 0;
        }
        auto const nBlock = static_cast<uint32_t>((n + 255) / 256);
        if (inputDesc[0].type == DataType::kINT8)
        {
            if (!gPrintedInt8.exchange(true))
            {
                std::printf("[plugin AddScalarINT8] first INT8 enqueue: input scale %g, output scale %g\n",
                            inputDesc[0].scale, outputDesc[0].scale);
                std::fflush(stdout);
            }
            addScalarInt8<<<nBlock, 256, 0, stream>>>(static_cast<int8_t const*>(inputs[0]),
                                                      static_cast<int8_t*>(outputs[0]), mScalar, inputDesc[0].scale,
                                                      outputDesc[0].scale, n);
        }
        else
        {
            if (!gPrintedFloat.exchange(true))
            {
                std::printf("[plugin AddScalarINT8] first FP32 enqueue\n");
                std::fflush(stdout);
            }
            addScalarFloat<<<nBlock, 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
                                                       static_cast<float*>(outputs[0]), mScalar, n);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    std::string mName;
    std::string mNamespace;
    float mScalar;
};

class AddScalarINT8PluginCreator : public CreatorBase
{
public:
    AddScalarINT8PluginCreator()
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
        auto* plugin = new AddScalarINT8Plugin(name, scalar);
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
        auto* plugin = new AddScalarINT8Plugin(name, scalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

REGISTER_TENSORRT_PLUGIN(AddScalarINT8PluginCreator);

} // namespace cookbook
