// BiasGelu: y = GELU(x + bias) along the last axis, exact (erf) or tanh approximation. See PluginRepository.h.
// The bias is a weight: the creator copies it, serialize() writes it into the plan, initialize() puts it on the GPU.
#include "PluginRepository.h"

using namespace nvinfer1;

namespace cookbook
{
namespace
{

char const* const kNAME = "BiasGelu";

__global__ void biasGeluKernel(float const* x, float const* bias, float* y, int64_t n, int32_t channels, bool tanhForm)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
    {
        float const v = x[i] + bias[i % channels];
        y[i] = tanhForm ? 0.5F * v * (1.F + tanhf(0.7978845608F * (v + 0.044715F * v * v * v)))
                        : 0.5F * v * (1.F + erff(v * 0.7071067812F));
    }
}

class BiasGeluPlugin : public RepositoryPlugin
{
public:
    BiasGeluPlugin(std::vector<float> bias, int32_t approximate) : mBias(std::move(bias)), mApproximate(approximate) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kNAME;
    }
    int32_t initialize() noexcept override  // idempotent: clone() calls it too
    {
        if (mDeviceBias != nullptr)
        {
            return 0;
        }
        CHECK_RETURN(cudaMalloc(&mDeviceBias, mBias.size() * sizeof(float)), 1);
        CHECK_RETURN(cudaMemcpy(mDeviceBias, mBias.data(), mBias.size() * sizeof(float), cudaMemcpyHostToDevice), 1);
        return 0;
    }
    void terminate() noexcept override
    {
        if (mDeviceBias != nullptr)
        {
            cudaFree(mDeviceBias);
            mDeviceBias = nullptr;
        }
    }
    void destroy() noexcept override
    {
        terminate();
        delete this;
    }
    size_t getSerializationSize() const noexcept override
    {
        return serializedSize(mApproximate, int32_t{0}) + mBias.size() * sizeof(float);
    }
    void serialize(void* buffer) const noexcept override
    {
        BufferWriter writer(buffer, getSerializationSize());
        writer.write(mApproximate);
        writer.write(static_cast<int32_t>(mBias.size()));
        writer.writeArray(mBias.data(), mBias.size());
    }
    // TensorRT does not call initialize() on the clones it makes for execution contexts (which run enqueue): a
    // clone of an initialized plugin gets its own device copy of the bias here, ready to use.
    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = withNamespace(new BiasGeluPlugin(mBias, mApproximate), mNamespace);
        if (mDeviceBias != nullptr && plugin->initialize() != 0)
        {
            plugin->destroy();
            return nullptr;
        }
        return plugin;
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
        if (dims.d[dims.nbDims - 1] != static_cast<int32_t>(mBias.size()))
        {
            pluginError(kNAME, "the last dimension differs from the bias length");
            return 1;
        }
        if (mDeviceBias == nullptr && initialize() != 0)  // safety net: an object that was never initialized
        {
            return 1;
        }
        int64_t const n = volume(dims);
        if (n > 0)
        {
            biasGeluKernel<<<blocksFor(n), 256, 0, stream>>>(static_cast<float const*>(inputs[0]), mDeviceBias,
                static_cast<float*>(outputs[0]), n, static_cast<int32_t>(mBias.size()), mApproximate != 0);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    std::vector<float> mBias;
    int32_t mApproximate;
    float* mDeviceBias{nullptr};
};

class BiasGeluCreator : public RepositoryCreator
{
public:
    BiasGeluCreator()
    {
        mFields = {PluginField("bias", nullptr, PluginFieldType::kFLOAT32, 0),
            PluginField("approximate", nullptr, PluginFieldType::kINT32, 1)};
        updateFieldCollection();
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kNAME;
    }
    IPluginV2* createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept override
    {
        PluginField const* bias = findPluginField(fc, "bias");
        int32_t approximate = 0; // optional
        readPluginField(fc, "approximate", PluginFieldType::kINT32, &approximate);
        if (bias == nullptr || bias->type != PluginFieldType::kFLOAT32 || bias->length <= 0)
        {
            pluginError(kNAME, "needs the FLOAT32 field bias");
            return nullptr;
        }
        auto const* b = static_cast<float const*>(bias->data);
        auto* plugin = new BiasGeluPlugin(std::vector<float>(b, b + bias->length), approximate);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const*, void const* data, size_t length) noexcept override
    {
        BufferReader reader(data, length);
        int32_t const approximate = reader.read<int32_t>();
        int32_t const channels = reader.read<int32_t>();
        if (!reader.ok() || channels <= 0 || static_cast<size_t>(channels) * sizeof(float) != reader.remaining())
        {
            pluginError(kNAME, "bad serialized data");
            return nullptr;
        }
        std::vector<float> bias(channels);
        reader.readArray(bias.data(), bias.size());
        auto* plugin = new BiasGeluPlugin(std::move(bias), approximate);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

} // namespace

REGISTER_TENSORRT_PLUGIN(BiasGeluCreator);

} // namespace cookbook
