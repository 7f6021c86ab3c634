// ChannelAffineClip (see ChannelAffineClipPlugin.h): weights and attributes in, through the plan, and back.
#include "ChannelAffineClipPlugin.h"

#include <cstring>

using namespace nvinfer1;

namespace cookbook
{

static char const* const kNAME = "ChannelAffineClip";
static char const* const kVERSION = "1";

__global__ void channelAffineClipKernel(float const* x, float* y, float const* weight, float const* bias,
    float clipMin, float clipMax, int64_t n, int32_t channels)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
    {
        int32_t const c = static_cast<int32_t>(i % channels);
        y[i] = fminf(fmaxf(x[i] * weight[c] + bias[c], clipMin), clipMax);
    }
}

ChannelAffineClipPlugin::ChannelAffineClipPlugin(
    std::vector<float> weight, std::vector<float> bias, float clipMin, float clipMax)
    : mWeight(std::move(weight))
    , mBias(std::move(bias))
    , mClipMin(clipMin)
    , mClipMax(clipMax)
{
}

// The plan holds: channels (int32), clipMin, clipMax (float), weight[channels], bias[channels] (float).
ChannelAffineClipPlugin::ChannelAffineClipPlugin(void const* data, size_t length)
{
    BufferReader reader(data, length);
    int32_t const channels = reader.read<int32_t>();
    mClipMin = reader.read<float>();
    mClipMax = reader.read<float>();
    if (reader.ok() && channels > 0 && static_cast<size_t>(channels) * 2 * sizeof(float) == reader.remaining())
    {
        mWeight.resize(channels);
        mBias.resize(channels);
        reader.readArray(mWeight.data(), mWeight.size());
        reader.readArray(mBias.data(), mBias.size());
    }
    mValid = reader.ok() && !mWeight.empty() && reader.remaining() == 0;
}

AsciiChar const* ChannelAffineClipPlugin::getPluginType() const noexcept
{
    return kNAME;
}

AsciiChar const* ChannelAffineClipPlugin::getPluginVersion() const noexcept
{
    return kVERSION;
}

int32_t ChannelAffineClipPlugin::getNbOutputs() const noexcept
{
    return 1;
}

// Called when the engine is created (build and deserialization): the weights go to the GPU once per engine.
// Idempotent: clone() calls it too (see there), and a second call must not leak the first buffer.
int32_t ChannelAffineClipPlugin::initialize() noexcept
{
    if (mDeviceWeightBias != nullptr)
    {
        return 0;
    }
    size_t const bytes = mWeight.size() * sizeof(float);
    CHECK_RETURN(cudaMalloc(&mDeviceWeightBias, 2 * bytes), 1);
    CHECK_RETURN(cudaMemcpy(mDeviceWeightBias, mWeight.data(), bytes, cudaMemcpyHostToDevice), 1);
    CHECK_RETURN(cudaMemcpy(mDeviceWeightBias + mWeight.size(), mBias.data(), bytes, cudaMemcpyHostToDevice), 1);
    return 0;
}

void ChannelAffineClipPlugin::terminate() noexcept
{
    if (mDeviceWeightBias != nullptr)
    {
        cudaFree(mDeviceWeightBias);
        mDeviceWeightBias = nullptr;
    }
}

size_t ChannelAffineClipPlugin::getSerializationSize() const noexcept
{
    return serializedSize(int32_t{0}, mClipMin, mClipMax) + 2 * mWeight.size() * sizeof(float);
}

void ChannelAffineClipPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter writer(buffer, getSerializationSize());
    writer.write(static_cast<int32_t>(mWeight.size()));
    writer.write(mClipMin);
    writer.write(mClipMax);
    writer.writeArray(mWeight.data(), mWeight.size());
    writer.writeArray(mBias.data(), mBias.size());
}

void ChannelAffineClipPlugin::destroy() noexcept
{
    terminate();
    delete this;
}

void ChannelAffineClipPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* ChannelAffineClipPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

DataType ChannelAffineClipPlugin::getOutputDataType(int32_t, DataType const* inputTypes, int32_t) const noexcept
{
    return inputTypes[0];
}

// A clone owns its own copy of the weights (host vectors) and its own device buffer. TensorRT calls initialize()
// once per engine, not on the clones it makes for each execution context, which run enqueue: NvInferRuntimePlugin.h
// asks that a clone be ready to use ("If the source plugin is pre-configured ... the returned object should also be
// pre-configured"). So a clone of an initialized plugin is initialized here.
IPluginV2DynamicExt* ChannelAffineClipPlugin::clone() const noexcept
{
    auto* plugin = new ChannelAffineClipPlugin(mWeight, mBias, mClipMin, mClipMax);
    plugin->setPluginNamespace(mNamespace.c_str());
    if (mDeviceWeightBias != nullptr && plugin->initialize() != 0)
    {
        plugin->destroy();
        return nullptr;
    }
    return plugin;
}

DimsExprs ChannelAffineClipPlugin::getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept
{
    return inputs[0];
}

bool ChannelAffineClipPlugin::supportsFormatCombination(
    int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept
{
    return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
}

void ChannelAffineClipPlugin::configurePlugin(DynamicPluginTensorDesc const* in, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept
{
    int32_t const last = in[0].desc.dims.d[in[0].desc.dims.nbDims - 1];
    if (last != -1 && last != static_cast<int32_t>(mWeight.size()))
    {
        pluginError(kNAME, "the input's last dimension differs from the number of weights");
    }
}

size_t ChannelAffineClipPlugin::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) const noexcept
{
    return 0;
}

int32_t ChannelAffineClipPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*,
    void const* const* inputs, void* const* outputs, void*, cudaStream_t stream) noexcept
{
    int64_t const n = volume(inputDesc[0].dims);
    int32_t const channels = static_cast<int32_t>(mWeight.size());
    if (n == 0)
    {
        return 0;
    }
    if (mDeviceWeightBias == nullptr && initialize() != 0)  // safety net: an object that was never initialized
    {
        return 1;
    }
    unsigned const blocks = static_cast<unsigned>((n + 255) / 256);
    channelAffineClipKernel<<<blocks, 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
        static_cast<float*>(outputs[0]), mDeviceWeightBias, mDeviceWeightBias + channels, mClipMin, mClipMax, n,
        channels);
    CHECK_RETURN(cudaGetLastError(), 1);
    return 0;
}

// The creator: the fields it accepts, and the two ways to make a plugin (from fields, from the plan).
ChannelAffineClipPluginCreator::ChannelAffineClipPluginCreator()
{
    mFields = {PluginField("weight", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("bias", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("clip_min", nullptr, PluginFieldType::kFLOAT32, 1),
        PluginField("clip_max", nullptr, PluginFieldType::kFLOAT32, 1)};
    updateFieldCollection();
}

AsciiChar const* ChannelAffineClipPluginCreator::getPluginName() const noexcept
{
    return kNAME;
}

AsciiChar const* ChannelAffineClipPluginCreator::getPluginVersion() const noexcept
{
    return kVERSION;
}

IPluginV2* ChannelAffineClipPluginCreator::createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept
{
    PluginField const* weight = findPluginField(fc, "weight");
    PluginField const* bias = findPluginField(fc, "bias");
    float clipMin = 0.F, clipMax = 0.F;
    if (weight == nullptr || bias == nullptr || weight->type != PluginFieldType::kFLOAT32
        || bias->type != PluginFieldType::kFLOAT32 || weight->length <= 0 || bias->length != weight->length
        || !readPluginField(fc, "clip_min", PluginFieldType::kFLOAT32, &clipMin)
        || !readPluginField(fc, "clip_max", PluginFieldType::kFLOAT32, &clipMax))
    {
        pluginError(kNAME, "needs FLOAT32 fields weight and bias (same length > 0), clip_min and clip_max");
        return nullptr;
    }
    auto const* w = static_cast<float const*>(weight->data);
    auto const* b = static_cast<float const*>(bias->data);
    // copies: the field arrays belong to the caller and may be freed as soon as createPlugin returns
    auto* plugin = new ChannelAffineClipPlugin(
        std::vector<float>(w, w + weight->length), std::vector<float>(b, b + bias->length), clipMin, clipMax);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* ChannelAffineClipPluginCreator::deserializePlugin(
    AsciiChar const*, void const* serialData, size_t serialLength) noexcept
{
    auto* plugin = new ChannelAffineClipPlugin(serialData, serialLength);
    if (!plugin->valid())
    {
        pluginError(kNAME, "the serialized data is not a ChannelAffineClip plugin");
        delete plugin;
        return nullptr;
    }
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

REGISTER_TENSORRT_PLUGIN(ChannelAffineClipPluginCreator);

} // namespace cookbook
