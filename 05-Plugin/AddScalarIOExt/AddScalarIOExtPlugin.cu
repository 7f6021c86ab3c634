// 05-Plugin/AddScalarIOExt: the differences from the IPluginV2DynamicExt version (../AddScalar) are commented.
#include "AddScalarIOExtPlugin.h"

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"AddScalarIOExt"};
static char const* const kPLUGIN_VERSION{"1"};

static __global__ void addScalarKernel(float const* input, float* output, float const scalar, int64_t const nElement)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < nElement)
    {
        output[index] = input[index] + scalar;
    }
}

AddScalarIOExtPlugin::AddScalarIOExtPlugin(std::string const& name, float scalar, int64_t nElement)
    : mName(name), mScalar(scalar), mNElement(nElement)
{
}

AddScalarIOExtPlugin::AddScalarIOExtPlugin(std::string const& name, void const* data, size_t length)
    : mName(name), mScalar(0.F), mNElement(0)
{
    BufferReader reader(data, length);
    mScalar = reader.read<float>();
    mNElement = reader.read<int64_t>();
    if (!reader.ok() || reader.remaining() != 0)
    {
        pluginError(kPLUGIN_NAME, "the serialized data has the wrong length");
    }
}

AsciiChar const* AddScalarIOExtPlugin::getPluginType() const noexcept
{
    return kPLUGIN_NAME;
}

AsciiChar const* AddScalarIOExtPlugin::getPluginVersion() const noexcept
{
    return kPLUGIN_VERSION;
}

int32_t AddScalarIOExtPlugin::getNbOutputs() const noexcept
{
    return 1;
}

// Dims, not expressions: every dimension must be known when the network is built. NvInferRuntimePlugin.h: "In any
// non-IPluginV2DynamicExt plugin, batch size should not be included in the returned dimensions, even if the plugin is
// expected to be run in a network with explicit batch mode enabled." Same shape as the input either way.
Dims AddScalarIOExtPlugin::getOutputDimensions(int32_t /*index*/, Dims const* inputs, int32_t /*nbInputDims*/) noexcept
{
    return inputs[0];
}

int32_t AddScalarIOExtPlugin::initialize() noexcept
{
    return 0;
}

void AddScalarIOExtPlugin::terminate() noexcept {}

// Asked with the largest batch size only: the workspace cannot depend on the shapes of one run.
size_t AddScalarIOExtPlugin::getWorkspaceSize(int32_t /*maxBatchSize*/) const noexcept
{
    return 0;
}

// No tensor descriptors: the shapes the plugin needs were saved by configurePlugin (and serialized); the batch size
// comes as an argument. The element count is batchSize times the volume of the dims configurePlugin saw (dims
// without the batch dimension, as the note above says).
int32_t AddScalarIOExtPlugin::enqueue(int32_t batchSize, void const* const* inputs, void* const* outputs,
                                      void* /*workspace*/, cudaStream_t stream) noexcept
{
    int64_t const nElement = static_cast<int64_t>(batchSize) * mNElement;
    if (nElement == 0)
    {
        return 0;
    }
    int32_t const nThread = 256;
    auto const nBlock = static_cast<uint32_t>((nElement + nThread - 1) / nThread);
    addScalarKernel<<<nBlock, nThread, 0, stream>>>(static_cast<float const*>(inputs[0]),
                                                    static_cast<float*>(outputs[0]), mScalar, nElement);
    CHECK_RETURN(cudaGetLastError(), 1);
    return 0;
}

size_t AddScalarIOExtPlugin::getSerializationSize() const noexcept
{
    return serializedSize(mScalar, mNElement);
}

void AddScalarIOExtPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter writer(buffer, getSerializationSize());
    writer.write(mScalar);
    writer.write(mNElement);
}

void AddScalarIOExtPlugin::destroy() noexcept
{
    delete this;
}

void AddScalarIOExtPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* AddScalarIOExtPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

DataType AddScalarIOExtPlugin::getOutputDataType(int32_t /*index*/, DataType const* inputTypes,
                                                 int32_t /*nbInputs*/) const noexcept
{
    return inputTypes[0];
}

// Implicit-batch only (a tensor the same for every batch item); not used in explicit-batch networks.
bool AddScalarIOExtPlugin::isOutputBroadcastAcrossBatch(int32_t /*outputIndex*/, bool const* /*inputIsBroadcasted*/,
                                                        int32_t /*nbInputs*/) const noexcept
{
    return false;
}

bool AddScalarIOExtPlugin::canBroadcastInputAcrossBatch(int32_t /*inputIndex*/) const noexcept
{
    return false;
}

IPluginV2Ext* AddScalarIOExtPlugin::clone() const noexcept
{
    auto* plugin = new AddScalarIOExtPlugin(mName, mScalar, mNElement);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

// Called by the builder with the chosen types, formats and (static) dims; not called again at run time, so what
// enqueue needs is kept in members and serialized.
void AddScalarIOExtPlugin::configurePlugin(PluginTensorDesc const* in, int32_t /*nbInput*/,
                                           PluginTensorDesc const* /*out*/, int32_t /*nbOutput*/) noexcept
{
    mNElement = volume(in[0].dims);
}

// The same question as in IPluginV2DynamicExt (but const here).
bool AddScalarIOExtPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                                     int32_t /*nbOutputs*/) const noexcept
{
    if (inOut[pos].format != TensorFormat::kLINEAR)
    {
        return false;
    }
    return pos == 0 ? inOut[0].type == DataType::kFLOAT : inOut[pos].type == inOut[0].type;
}

AddScalarIOExtPluginCreator::AddScalarIOExtPluginCreator()
{
    mFields.emplace_back("scalar", nullptr, PluginFieldType::kFLOAT32, 1);
    updateFieldCollection();
}

AsciiChar const* AddScalarIOExtPluginCreator::getPluginName() const noexcept
{
    return kPLUGIN_NAME;
}

AsciiChar const* AddScalarIOExtPluginCreator::getPluginVersion() const noexcept
{
    return kPLUGIN_VERSION;
}

IPluginV2* AddScalarIOExtPluginCreator::createPlugin(AsciiChar const* name, PluginFieldCollection const* fc) noexcept
{
    float scalar = 0.F;
    if (!readPluginField(fc, "scalar", PluginFieldType::kFLOAT32, &scalar))
    {
        pluginError(kPLUGIN_NAME, "createPlugin needs the field \"scalar\" (FLOAT32, length 1)");
        return nullptr;
    }
    auto* plugin = new AddScalarIOExtPlugin(name, scalar, 0);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* AddScalarIOExtPluginCreator::deserializePlugin(AsciiChar const* name, void const* serialData,
                                                          size_t serialLength) noexcept
{
    auto* plugin = new AddScalarIOExtPlugin(name, serialData, serialLength);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

REGISTER_TENSORRT_PLUGIN(AddScalarIOExtPluginCreator);

} // namespace cookbook
