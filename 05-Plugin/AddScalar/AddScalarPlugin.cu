// 05-Plugin/AddScalar: every method of an IPluginV2DynamicExt plugin and of its creator, with what TensorRT calls it
// for. CallSequence (next folder) prints the order in which TensorRT 8.6 calls them.
#include "AddScalarPlugin.h"

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"AddScalar"};  // the creator is found by this name ...
static char const* const kPLUGIN_VERSION{"1"};       // ... this version and the namespace ("" here)

// The kernel: one thread per element. TensorRT gives enqueue() the device addresses and the stream.
static __global__ void addScalarKernel(float const* input, float* output, float const scalar, int64_t const nElement)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index >= nElement)
    {
        return;
    }
    output[index] = input[index] + scalar;
}

// ---- AddScalarPlugin ----------------------------------------------------------------------------------------------

// Called by the creator's createPlugin (network building) and by clone(): the parameters come as values.
AddScalarPlugin::AddScalarPlugin(std::string const& name, float scalar) : mName(name), mScalar(scalar) {}

// Called by the creator's deserializePlugin (loading a plan): the parameters come as the bytes serialize() wrote.
AddScalarPlugin::AddScalarPlugin(std::string const& name, void const* data, size_t length) : mName(name), mScalar(0.F)
{
    BufferReader reader(data, length);
    mScalar = reader.read<float>();
    if (!reader.ok() || reader.remaining() != 0)
    {
        pluginError(kPLUGIN_NAME, "the serialized data has the wrong length");
    }
}

// Type and version are written into the plan with the serialized bytes: deserialization looks the creator up by
// them (and the namespace), so they must equal the creator's getPluginName() / getPluginVersion().
AsciiChar const* AddScalarPlugin::getPluginType() const noexcept
{
    return kPLUGIN_NAME;
}

AsciiChar const* AddScalarPlugin::getPluginVersion() const noexcept
{
    return kPLUGIN_VERSION;
}

// How many output tensors the layer has (asked when the layer is added to the network).
int32_t AddScalarPlugin::getNbOutputs() const noexcept
{
    return 1;
}

// Called when an engine is created from a plan (and during the build): allocate resources the plugin keeps for
// the engine's life time (device weights, ...). Return 0 for success. Nothing to do here.
int32_t AddScalarPlugin::initialize() noexcept
{
    return 0;
}

// The opposite of initialize(): called when the engine is destroyed.
void AddScalarPlugin::terminate() noexcept {}

// The number of bytes serialize() writes; TensorRT allocates that much in the plan.
size_t AddScalarPlugin::getSerializationSize() const noexcept
{
    return serializedSize(mScalar);
}

// Writes the parameters into the plan (IBuilder::buildSerializedNetwork, ICudaEngine::serialize).
void AddScalarPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter writer(buffer, getSerializationSize());
    writer.write(mScalar);
}

// TensorRT is done with this object (network destroyed, engine destroyed, builder done with a clone): free it.
void AddScalarPlugin::destroy() noexcept
{
    delete this;
}

// TensorRT sets the namespace the creator was registered with; clone() passes it on.
void AddScalarPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* AddScalarPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

// The data type of each output, given the input types: float in, float out.
DataType AddScalarPlugin::getOutputDataType(int32_t /*index*/, DataType const* inputTypes,
                                            int32_t /*nbInputs*/) const noexcept
{
    return inputTypes[0];
}

// Called when the plugin is given to an execution context: cuDNN / cuBLAS handles and the context's allocator
// (a handle per context: see 05-Plugin's cuBLAS example). Not needed here.
void AddScalarPlugin::attachToContext(cudnnContext* /*cudnn*/, cublasContext* /*cublas*/,
                                      IGpuAllocator* /*allocator*/) noexcept
{
}

void AddScalarPlugin::detachFromContext() noexcept {}

// A copy with the same parameters: the builder clones the plugin for each tactic trial and the engine, and each
// execution context gets its own clone. Copy what the plugin needs, including the namespace.
IPluginV2DynamicExt* AddScalarPlugin::clone() const noexcept
{
    auto* plugin = new AddScalarPlugin(mName, mScalar);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

// The output shape as expressions of the input shapes (dimensions may be unknown until run time): the same shape.
DimsExprs AddScalarPlugin::getOutputDimensions(int32_t /*outputIndex*/, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                               IExprBuilder& /*exprBuilder*/) noexcept
{
    return inputs[0];
}

// Asked by the builder, tensor by tensor (pos indexes inputs then outputs), whether a combination of data type and
// format is supported: the answer for pos may depend on inOut[0 .. pos-1]. FP32, linear layout, output like input.
bool AddScalarPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                                int32_t /*nbOutputs*/) noexcept
{
    if (inOut[pos].format != TensorFormat::kLINEAR)
    {
        return false;
    }
    if (pos == 0)
    {
        return inOut[0].type == DataType::kFLOAT;
    }
    return inOut[pos].type == inOut[0].type;  // pos == 1: the output
}

// Called at build time (dims with -1 for dynamic dimensions; min/max from the optimization profile) and when an
// execution context's input shapes change (the real dims): a place to precompute what enqueue needs.
void AddScalarPlugin::configurePlugin(DynamicPluginTensorDesc const* /*in*/, int32_t /*nbInputs*/,
                                      DynamicPluginTensorDesc const* /*out*/, int32_t /*nbOutputs*/) noexcept
{
}

// Scratch device memory the plugin needs during enqueue, for these shapes: TensorRT allocates and shares it.
size_t AddScalarPlugin::getWorkspaceSize(PluginTensorDesc const* /*inputs*/, int32_t /*nbInputs*/,
                                         PluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept
{
    return 0;
}

// The inference: descriptors with the real shapes, device addresses, the workspace and the stream. Launch on
// `stream`, do not synchronize, do not allocate. Return 0 for success (non-zero fails the execution).
int32_t AddScalarPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/,
                                 void const* const* inputs, void* const* outputs, void* /*workspace*/,
                                 cudaStream_t stream) noexcept
{
    int64_t const nElement = volume(inputDesc[0].dims);
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

// ---- AddScalarPluginCreator ---------------------------------------------------------------------------------------

// The fields createPlugin() reads: a network builder (Python, C++, the ONNX parser) passes them by these names.
AddScalarPluginCreator::AddScalarPluginCreator()
{
    mFields.emplace_back("scalar", nullptr, PluginFieldType::kFLOAT32, 1);
    mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
    mFieldCollection.fields = mFields.data();
}

AsciiChar const* AddScalarPluginCreator::getPluginName() const noexcept
{
    return kPLUGIN_NAME;
}

AsciiChar const* AddScalarPluginCreator::getPluginVersion() const noexcept
{
    return kPLUGIN_VERSION;
}

// What the creator expects (name, type, length): tools (and readers) list them, e.g. creator.field_names.
PluginFieldCollection const* AddScalarPluginCreator::getFieldNames() noexcept
{
    return &mFieldCollection;
}

// Network building: a plugin object from named fields. Return nullptr when a field is missing or malformed.
IPluginV2* AddScalarPluginCreator::createPlugin(AsciiChar const* name, PluginFieldCollection const* fc) noexcept
{
    float scalar = 0.F;
    if (!readPluginField(fc, "scalar", PluginFieldType::kFLOAT32, &scalar))
    {
        pluginError(kPLUGIN_NAME, "createPlugin needs the field \"scalar\" (FLOAT32, length 1)");
        return nullptr;
    }
    auto* plugin = new AddScalarPlugin(name, scalar);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

// Loading a plan: the plugin again, from the bytes its serialize() wrote.
IPluginV2* AddScalarPluginCreator::deserializePlugin(AsciiChar const* name, void const* serialData,
                                                     size_t serialLength) noexcept
{
    auto* plugin = new AddScalarPlugin(name, serialData, serialLength);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

void AddScalarPluginCreator::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* AddScalarPluginCreator::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

// A static object whose constructor registers one creator in TensorRT's plugin registry (namespace "") when the
// library is loaded.
REGISTER_TENSORRT_PLUGIN(AddScalarPluginCreator);

} // namespace cookbook
