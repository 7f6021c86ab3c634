// Activation versions "1" and "2" in the namespace "cookbook" (see ActivationPlugin.h).
#include "ActivationPlugin.h"

using namespace nvinfer1;

namespace cookbook
{

__global__ void activationKernel(float const* x, float* y, int64_t n, float negativeSlope)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
    {
        y[i] = x[i] >= 0.F ? x[i] : negativeSlope * x[i];
    }
}

AsciiChar const* ActivationPlugin::getPluginType() const noexcept
{
    return kACTIVATION_NAME;
}

AsciiChar const* ActivationPlugin::getPluginVersion() const noexcept
{
    return mVersion == 1 ? "1" : "2"; // written into the plan: deserialization asks for the creator of this version
}

int32_t ActivationPlugin::getNbOutputs() const noexcept
{
    return 1;
}

int32_t ActivationPlugin::initialize() noexcept
{
    return 0;
}

void ActivationPlugin::terminate() noexcept {}

size_t ActivationPlugin::getSerializationSize() const noexcept
{
    return mVersion == 1 ? 0 : serializedSize(mAlpha); // each version has its own format
}

void ActivationPlugin::serialize(void* buffer) const noexcept
{
    if (mVersion == 2)
    {
        BufferWriter(buffer, getSerializationSize()).write(mAlpha);
    }
}

void ActivationPlugin::destroy() noexcept
{
    delete this;
}

void ActivationPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* ActivationPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str(); // written into the plan too
}

DataType ActivationPlugin::getOutputDataType(int32_t, DataType const* inputTypes, int32_t) const noexcept
{
    return inputTypes[0];
}

IPluginV2DynamicExt* ActivationPlugin::clone() const noexcept
{
    auto* plugin = new ActivationPlugin(mVersion, mAlpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

DimsExprs ActivationPlugin::getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept
{
    return inputs[0];
}

bool ActivationPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept
{
    return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
}

void ActivationPlugin::configurePlugin(DynamicPluginTensorDesc const*, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept {}

size_t ActivationPlugin::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) const noexcept
{
    return 0;
}

int32_t ActivationPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
    void* const* outputs, void*, cudaStream_t stream) noexcept
{
    int64_t const n = volume(inputDesc[0].dims);
    if (n > 0)
    {
        activationKernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(
            static_cast<float const*>(inputs[0]), static_cast<float*>(outputs[0]), n, mVersion == 1 ? 0.F : mAlpha);
    }
    CHECK_RETURN(cudaGetLastError(), 1);
    return 0;
}

// Version 1: no fields.
ActivationV1Creator::ActivationV1Creator()
{
    updateFieldCollection();
}

AsciiChar const* ActivationV1Creator::getPluginName() const noexcept
{
    return kACTIVATION_NAME;
}

AsciiChar const* ActivationV1Creator::getPluginVersion() const noexcept
{
    return "1";
}

IPluginV2* ActivationV1Creator::createPlugin(AsciiChar const*, PluginFieldCollection const*) noexcept
{
    auto* plugin = new ActivationPlugin(1, 0.F);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* ActivationV1Creator::deserializePlugin(AsciiChar const*, void const*, size_t serialLength) noexcept
{
    if (serialLength != 0)
    {
        pluginError(kACTIVATION_NAME, "version 1 serializes nothing");
        return nullptr;
    }
    auto* plugin = new ActivationPlugin(1, 0.F);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

// Version 2: the field alpha (FLOAT32), 0.01 when absent.
ActivationV2Creator::ActivationV2Creator()
{
    mFields = {PluginField("alpha", nullptr, PluginFieldType::kFLOAT32, 1)};
    updateFieldCollection();
}

AsciiChar const* ActivationV2Creator::getPluginName() const noexcept
{
    return kACTIVATION_NAME;
}

AsciiChar const* ActivationV2Creator::getPluginVersion() const noexcept
{
    return "2";
}

IPluginV2* ActivationV2Creator::createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept
{
    float alpha = 0.01F;
    readPluginField(fc, "alpha", PluginFieldType::kFLOAT32, &alpha);
    auto* plugin = new ActivationPlugin(2, alpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* ActivationV2Creator::deserializePlugin(AsciiChar const*, void const* serialData, size_t serialLength) noexcept
{
    BufferReader reader(serialData, serialLength);
    float const alpha = reader.read<float>();
    if (!reader.ok() || reader.remaining() != 0)
    {
        pluginError(kACTIVATION_NAME, "version 2 serializes one float");
        return nullptr;
    }
    auto* plugin = new ActivationPlugin(2, alpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

// REGISTER_TENSORRT_PLUGIN registers in the namespace "" only. For a namespace, register by hand when the library is
// loaded: a static object whose constructor sets the creator's namespace and calls registerCreator with it.
template <typename Creator>
class NamespaceRegistrar
{
public:
    explicit NamespaceRegistrar(char const* pluginNamespace)
    {
        mCreator.setPluginNamespace(pluginNamespace);
        if (!getPluginRegistry()->registerCreator(mCreator, pluginNamespace))
        {
            pluginError(mCreator.getPluginName(), "registerCreator failed (already registered?)");
        }
    }

private:
    Creator mCreator;
};

static NamespaceRegistrar<ActivationV1Creator> registrarV1{kACTIVATION_NAMESPACE};
static NamespaceRegistrar<ActivationV2Creator> registrarV2{kACTIVATION_NAMESPACE};

} // namespace cookbook
