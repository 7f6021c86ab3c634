// MaskedFill: x [B, T, ...] and lengths [B] (INT32) -> y = x where t < lengths[b], else `value`. See PluginRepository.h.
#include "PluginRepository.h"

using namespace nvinfer1;

namespace cookbook
{
namespace
{

char const* const kNAME = "MaskedFill";

// element i of x [B, T, inner]: b = i / (T * inner), t = i / inner % T
__global__ void maskedFillKernel(
    float const* x, int32_t const* lengths, float* y, int64_t n, int64_t steps, int64_t inner, float value)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
    {
        int64_t const b = i / (steps * inner), t = i / inner % steps;
        y[i] = t < lengths[b] ? x[i] : value;
    }
}

class MaskedFillPlugin : public RepositoryPlugin
{
public:
    explicit MaskedFillPlugin(float value) : mValue(value) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kNAME;
    }
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mValue);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter(buffer, getSerializationSize()).write(mValue);
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        return withNamespace(new MaskedFillPlugin(mValue), mNamespace);
    }
    DimsExprs getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept override
    {
        return inputs[0];
    }
    // inOut: 0 = x (FP32), 1 = lengths (INT32), 2 = y (FP32); all linear
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept override
    {
        if (pos == 1)
        {
            return inOut[pos].type == DataType::kINT32 && inOut[pos].format == TensorFormat::kLINEAR;
        }
        return isLinearFloat(inOut[pos]);
    }
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
        void* const* outputs, void*, cudaStream_t stream) noexcept override
    {
        Dims const& dims = inputDesc[0].dims;
        if (dims.nbDims < 2 || inputDesc[1].dims.nbDims != 1 || inputDesc[1].dims.d[0] != dims.d[0])
        {
            pluginError(kNAME, "needs x [B, T, ...] and lengths [B]");
            return 1;
        }
        int64_t const n = volume(dims);
        int64_t const inner = n == 0 ? 1 : n / (static_cast<int64_t>(dims.d[0]) * dims.d[1]);
        if (n > 0)
        {
            maskedFillKernel<<<blocksFor(n), 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
                static_cast<int32_t const*>(inputs[1]), static_cast<float*>(outputs[0]), n, dims.d[1], inner, mValue);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    float mValue;
};

class MaskedFillCreator : public RepositoryCreator
{
public:
    MaskedFillCreator()
    {
        mFields = {PluginField("value", nullptr, PluginFieldType::kFLOAT32, 1)};
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kNAME;
    }
    IPluginV2* createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept override
    {
        float value = 0.F;
        if (!readPluginField(fc, "value", PluginFieldType::kFLOAT32, &value))
        {
            pluginError(kNAME, "needs the FLOAT32 field value");
            return nullptr;
        }
        auto* plugin = new MaskedFillPlugin(value);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const*, void const* data, size_t length) noexcept override
    {
        BufferReader reader(data, length);
        float const value = reader.read<float>();
        if (!reader.ok() || reader.remaining() != 0)
        {
            pluginError(kNAME, "bad serialized data");
            return nullptr;
        }
        auto* plugin = new MaskedFillPlugin(value);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

} // namespace

REGISTER_TENSORRT_PLUGIN(MaskedFillCreator);

} // namespace cookbook
