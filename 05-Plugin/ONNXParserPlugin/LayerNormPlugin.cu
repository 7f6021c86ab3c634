// CookbookLayerNorm (see LayerNormPlugin.h): the nine primitive ONNX ops of a LayerNorm in one kernel launch.
// One block of 256 threads per row: the row is read from global memory twice (mean, then variance of x - mean,
// the numerically safe two-pass form) and written once, where the unfused ops read and write it several times.
#include "LayerNormPlugin.h"

using namespace nvinfer1;

namespace cookbook
{

static char const* const kNAME = "CookbookLayerNorm";
static char const* const kVERSION = "1";
static int const kTHREADS = 256;

// Sum over the block: warp shuffles, then the 8 warp sums through shared memory. Every thread gets the result.
__device__ float blockSum(float value, float* shared)
{
    for (int offset = 16; offset > 0; offset /= 2)
    {
        value += __shfl_xor_sync(0xffffffffU, value, offset);
    }
    int const warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0)
    {
        shared[warp] = value;
    }
    __syncthreads();
    value = lane < kTHREADS / 32 ? shared[lane] : 0.F;
    for (int offset = 16; offset > 0; offset /= 2)
    {
        value += __shfl_xor_sync(0xffffffffU, value, offset);
    }
    __syncthreads(); // shared[] is reused by the next call
    return value;
}

__global__ void layerNormKernel(
    float const* x, float const* gamma, float const* beta, float* y, int32_t hidden, float epsilon)
{
    __shared__ float shared[kTHREADS / 32];
    float const* row = x + static_cast<int64_t>(blockIdx.x) * hidden;
    float* out = y + static_cast<int64_t>(blockIdx.x) * hidden;
    float sum = 0.F;
    for (int32_t i = threadIdx.x; i < hidden; i += kTHREADS)
    {
        sum += row[i];
    }
    float const mean = blockSum(sum, shared) / static_cast<float>(hidden);
    float squares = 0.F;
    for (int32_t i = threadIdx.x; i < hidden; i += kTHREADS)
    {
        float const d = row[i] - mean;
        squares += d * d;
    }
    float const rstd = rsqrtf(blockSum(squares, shared) / static_cast<float>(hidden) + epsilon);
    for (int32_t i = threadIdx.x; i < hidden; i += kTHREADS)
    {
        out[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
    }
}

AsciiChar const* LayerNormPlugin::getPluginType() const noexcept
{
    return kNAME;
}

AsciiChar const* LayerNormPlugin::getPluginVersion() const noexcept
{
    return kVERSION;
}

int32_t LayerNormPlugin::getNbOutputs() const noexcept
{
    return 1;
}

int32_t LayerNormPlugin::initialize() noexcept
{
    return 0;
}

void LayerNormPlugin::terminate() noexcept {}

size_t LayerNormPlugin::getSerializationSize() const noexcept
{
    return serializedSize(mEpsilon);
}

void LayerNormPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter(buffer, getSerializationSize()).write(mEpsilon);
}

void LayerNormPlugin::destroy() noexcept
{
    delete this;
}

void LayerNormPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* LayerNormPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

DataType LayerNormPlugin::getOutputDataType(int32_t, DataType const* inputTypes, int32_t) const noexcept
{
    return inputTypes[0];
}

IPluginV2DynamicExt* LayerNormPlugin::clone() const noexcept
{
    auto* plugin = new LayerNormPlugin(mEpsilon);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

DimsExprs LayerNormPlugin::getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept
{
    return inputs[0];
}

bool LayerNormPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept
{
    return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
}

void LayerNormPlugin::configurePlugin(DynamicPluginTensorDesc const*, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept {}

size_t LayerNormPlugin::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) const noexcept
{
    return 0;
}

int32_t LayerNormPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
    void* const* outputs, void*, cudaStream_t stream) noexcept
{
    Dims const& dims = inputDesc[0].dims;
    int32_t const hidden = dims.d[dims.nbDims - 1];
    if (cookbook::volume(inputDesc[1].dims) != hidden || cookbook::volume(inputDesc[2].dims) != hidden)
    {
        pluginError(kNAME, "gamma and beta must have the size of x's last dimension");
        return 1;
    }
    int64_t const rows = cookbook::volume(dims) / hidden;
    if (rows > 0)
    {
        layerNormKernel<<<static_cast<unsigned>(rows), kTHREADS, 0, stream>>>(static_cast<float const*>(inputs[0]),
            static_cast<float const*>(inputs[1]), static_cast<float const*>(inputs[2]), static_cast<float*>(outputs[0]),
            hidden, mEpsilon);
    }
    CHECK_RETURN(cudaGetLastError(), 1);
    return 0;
}

LayerNormPluginCreator::LayerNormPluginCreator()
{
    mFields = {PluginField("epsilon", nullptr, PluginFieldType::kFLOAT32, 1)};
    updateFieldCollection();
}

AsciiChar const* LayerNormPluginCreator::getPluginName() const noexcept
{
    return kNAME;
}

AsciiChar const* LayerNormPluginCreator::getPluginVersion() const noexcept
{
    return kVERSION;
}

IPluginV2* LayerNormPluginCreator::createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept
{
    float epsilon = 0.F;
    if (!readPluginField(fc, "epsilon", PluginFieldType::kFLOAT32, &epsilon))
    {
        pluginError(kNAME, "needs the FLOAT32 field epsilon (the ONNX node's float attribute)");
        return nullptr;
    }
    auto* plugin = new LayerNormPlugin(epsilon);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* LayerNormPluginCreator::deserializePlugin(AsciiChar const*, void const* serialData, size_t serialLength) noexcept
{
    BufferReader reader(serialData, serialLength);
    float const epsilon = reader.read<float>();
    if (!reader.ok() || reader.remaining() != 0)
    {
        pluginError(kNAME, "bad serialized data");
        return nullptr;
    }
    auto* plugin = new LayerNormPlugin(epsilon);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

REGISTER_TENSORRT_PLUGIN(LayerNormPluginCreator);

} // namespace cookbook
