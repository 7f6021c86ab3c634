// TopKAverage: x [..., L] -> y [...], the mean of the k largest values of each last-axis row. See PluginRepository.h.
#include "PluginRepository.h"

using namespace nvinfer1;

namespace cookbook
{
namespace
{

char const* const kNAME = "TopKAverage";
int32_t const kMAX_K = 64;

// One thread per row: keeps the k largest values seen so far, sorted descending, in registers / local memory.
__global__ void topKAverageKernel(float const* x, float* y, int64_t rows, int32_t length, int32_t k)
{
    int64_t const row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (row >= rows)
    {
        return;
    }
    float best[kMAX_K];
    int32_t count = 0;
    for (int32_t i = 0; i < length; ++i)
    {
        float const value = x[row * length + i];
        if (count == k && value <= best[k - 1])
        {
            continue;
        }
        int32_t j = count < k ? count++ : k - 1; // insert: shift smaller values one place down
        while (j > 0 && best[j - 1] < value)
        {
            best[j] = best[j - 1];
            --j;
        }
        best[j] = value;
    }
    float sum = 0.F;
    for (int32_t i = 0; i < count; ++i)
    {
        sum += best[i];
    }
    y[row] = sum / static_cast<float>(k);
}

class TopKAveragePlugin : public RepositoryPlugin
{
public:
    explicit TopKAveragePlugin(int32_t k) : mK(k) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kNAME;
    }
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mK);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter(buffer, getSerializationSize()).write(mK);
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        return withNamespace(new TopKAveragePlugin(mK), mNamespace);
    }
    DimsExprs getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept override
    {
        DimsExprs output = inputs[0];
        output.nbDims -= 1; // the last axis is reduced away
        return output;
    }
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept override
    {
        return isLinearFloat(inOut[pos]);
    }
    void configurePlugin(DynamicPluginTensorDesc const* in, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept override
    {
        int32_t const length = in[0].desc.dims.d[in[0].desc.dims.nbDims - 1];
        if (length != -1 && length < mK)
        {
            pluginError(kNAME, "k is larger than the last dimension");
        }
    }
    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
        void* const* outputs, void*, cudaStream_t stream) noexcept override
    {
        Dims const& dims = inputDesc[0].dims;
        int32_t const length = dims.d[dims.nbDims - 1];
        if (length < mK)
        {
            pluginError(kNAME, "k is larger than the last dimension");
            return 1;
        }
        int64_t const rows = volume(dims) / length;
        if (rows > 0)
        {
            topKAverageKernel<<<blocksFor(rows, 128), 128, 0, stream>>>(
                static_cast<float const*>(inputs[0]), static_cast<float*>(outputs[0]), rows, length, mK);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    int32_t mK;
};

class TopKAverageCreator : public RepositoryCreator
{
public:
    TopKAverageCreator()
    {
        mFields = {PluginField("k", nullptr, PluginFieldType::kINT32, 1)};
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kNAME;
    }
    IPluginV2* createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept override
    {
        int32_t k = 0;
        if (!readPluginField(fc, "k", PluginFieldType::kINT32, &k) || k < 1 || k > kMAX_K)
        {
            pluginError(kNAME, "needs the INT32 field k, 1 <= k <= 64");
            return nullptr;
        }
        auto* plugin = new TopKAveragePlugin(k);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const*, void const* data, size_t length) noexcept override
    {
        BufferReader reader(data, length);
        int32_t const k = reader.read<int32_t>();
        if (!reader.ok() || reader.remaining() != 0 || k < 1 || k > kMAX_K)
        {
            pluginError(kNAME, "bad serialized data");
            return nullptr;
        }
        auto* plugin = new TopKAveragePlugin(k);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

} // namespace

REGISTER_TENSORRT_PLUGIN(TopKAverageCreator);

} // namespace cookbook
