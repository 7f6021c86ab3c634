// CumSum: y = cumulative sum of x along `axis` (inclusive, or exclusive with exclusive = 1). See PluginRepository.h.
#include "PluginRepository.h"

using namespace nvinfer1;

namespace cookbook
{
namespace
{

char const* const kNAME = "CumSum";

// One thread per line along the axis: outer * inner lines of `length` elements `inner` apart.
__global__ void cumSumKernel(float const* x, float* y, int64_t outer, int64_t length, int64_t inner, bool exclusive)
{
    int64_t const line = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (line >= outer * inner)
    {
        return;
    }
    int64_t const base = (line / inner) * length * inner + line % inner;
    float sum = 0.F;
    for (int64_t i = 0; i < length; ++i)
    {
        float const value = x[base + i * inner];
        if (!exclusive)
        {
            sum += value;
        }
        y[base + i * inner] = sum;
        if (exclusive)
        {
            sum += value;
        }
    }
}

class CumSumPlugin : public RepositoryPlugin
{
public:
    CumSumPlugin(int32_t axis, int32_t exclusive) : mAxis(axis), mExclusive(exclusive) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kNAME;
    }
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mAxis, mExclusive);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter writer(buffer, getSerializationSize());
        writer.write(mAxis);
        writer.write(mExclusive);
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        return withNamespace(new CumSumPlugin(mAxis, mExclusive), mNamespace);
    }
    DimsExprs getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept override
    {
        return inputs[0];
    }
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept override
    {
        return isLinearFloat(inOut[pos]);
    }
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
        void* const* outputs, void*, cudaStream_t stream) noexcept override
    {
        Dims const& dims = inputDesc[0].dims;
        int32_t const axis = mAxis < 0 ? mAxis + dims.nbDims : mAxis;
        if (axis < 0 || axis >= dims.nbDims)
        {
            pluginError(kNAME, "axis is outside the input's dimensions");
            return 1;
        }
        int64_t outer = 1, inner = 1;
        for (int32_t i = 0; i < axis; ++i)
        {
            outer *= dims.d[i];
        }
        for (int32_t i = axis + 1; i < dims.nbDims; ++i)
        {
            inner *= dims.d[i];
        }
        if (outer * inner * dims.d[axis] > 0)
        {
            cumSumKernel<<<blocksFor(outer * inner), 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
                static_cast<float*>(outputs[0]), outer, dims.d[axis], inner, mExclusive != 0);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    int32_t mAxis, mExclusive;
};

class CumSumCreator : public RepositoryCreator
{
public:
    CumSumCreator()
    {
        mFields = {PluginField("axis", nullptr, PluginFieldType::kINT32, 1),
            PluginField("exclusive", nullptr, PluginFieldType::kINT32, 1)};
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kNAME;
    }
    IPluginV2* createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept override
    {
        int32_t axis = 0, exclusive = 0; // exclusive is optional
        if (!readPluginField(fc, "axis", PluginFieldType::kINT32, &axis))
        {
            pluginError(kNAME, "needs the INT32 field axis");
            return nullptr;
        }
        readPluginField(fc, "exclusive", PluginFieldType::kINT32, &exclusive);
        auto* plugin = new CumSumPlugin(axis, exclusive);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const*, void const* data, size_t length) noexcept override
    {
        BufferReader reader(data, length);
        int32_t const axis = reader.read<int32_t>();
        int32_t const exclusive = reader.read<int32_t>();
        if (!reader.ok() || reader.remaining() != 0)
        {
            pluginError(kNAME, "bad serialized data");
            return nullptr;
        }
        auto* plugin = new CumSumPlugin(axis, exclusive);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

} // namespace

REGISTER_TENSORRT_PLUGIN(CumSumCreator);

} // namespace cookbook
