// ScaledTanh (see ScaledTanhPlugin.h), and the two ways a library hands its creator to TensorRT:
// - default: REGISTER_TENSORRT_PLUGIN, a static object whose constructor calls getPluginRegistry()->registerCreator.
//   It runs when the code is loaded: at program start when this file is linked into the executable, at dlopen (or
//   Python's ctypes.CDLL) when it is in a shared library.
// - with -DPLUGIN_LIBRARY_ENTRY_POINTS: no static registration; the library exports the two C functions that
//   IPluginRegistry::loadLibrary (new in TensorRT 8.6) looks up after its dlopen: getPluginCreators (the creators it
//   then registers) and setLoggerFinder. A library with both would fail loadLibrary: the header says it returns
//   nullptr "if any of the plugins are already registered", and the static registration would have done that.
#include "ScaledTanhPlugin.h"

using namespace nvinfer1;

namespace cookbook
{

static char const* const kNAME = "ScaledTanh";
static char const* const kVERSION = "1";

__global__ void scaledTanhKernel(float const* x, float* y, int64_t n, float alpha)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
    {
        y[i] = alpha * tanhf(x[i]);
    }
}

AsciiChar const* ScaledTanhPlugin::getPluginType() const noexcept
{
    return kNAME;
}

AsciiChar const* ScaledTanhPlugin::getPluginVersion() const noexcept
{
    return kVERSION;
}

int32_t ScaledTanhPlugin::getNbOutputs() const noexcept
{
    return 1;
}

int32_t ScaledTanhPlugin::initialize() noexcept
{
    return 0;
}

void ScaledTanhPlugin::terminate() noexcept {}

size_t ScaledTanhPlugin::getSerializationSize() const noexcept
{
    return serializedSize(mAlpha);
}

void ScaledTanhPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter(buffer, getSerializationSize()).write(mAlpha);
}

void ScaledTanhPlugin::destroy() noexcept
{
    delete this;
}

void ScaledTanhPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* ScaledTanhPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

DataType ScaledTanhPlugin::getOutputDataType(int32_t, DataType const* inputTypes, int32_t) const noexcept
{
    return inputTypes[0];
}

IPluginV2DynamicExt* ScaledTanhPlugin::clone() const noexcept
{
    auto* plugin = new ScaledTanhPlugin(mAlpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

DimsExprs ScaledTanhPlugin::getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder&) noexcept
{
    return inputs[0];
}

bool ScaledTanhPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept
{
    return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
}

void ScaledTanhPlugin::configurePlugin(DynamicPluginTensorDesc const*, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept {}

size_t ScaledTanhPlugin::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) const noexcept
{
    return 0;
}

int32_t ScaledTanhPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
    void* const* outputs, void*, cudaStream_t stream) noexcept
{
    int64_t const n = volume(inputDesc[0].dims);
    if (n > 0)
    {
        scaledTanhKernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(
            static_cast<float const*>(inputs[0]), static_cast<float*>(outputs[0]), n, mAlpha);
    }
    CHECK_RETURN(cudaGetLastError(), 1);
    return 0;
}

ScaledTanhPluginCreator::ScaledTanhPluginCreator()
{
    mFields = {PluginField("alpha", nullptr, PluginFieldType::kFLOAT32, 1)};
    updateFieldCollection();
}

AsciiChar const* ScaledTanhPluginCreator::getPluginName() const noexcept
{
    return kNAME;
}

AsciiChar const* ScaledTanhPluginCreator::getPluginVersion() const noexcept
{
    return kVERSION;
}

IPluginV2* ScaledTanhPluginCreator::createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept
{
    float alpha = 1.F;
    if (!readPluginField(fc, "alpha", PluginFieldType::kFLOAT32, &alpha))
    {
        pluginError(kNAME, "needs the FLOAT32 field alpha");
        return nullptr;
    }
    auto* plugin = new ScaledTanhPlugin(alpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* ScaledTanhPluginCreator::deserializePlugin(AsciiChar const*, void const* serialData, size_t serialLength) noexcept
{
    BufferReader reader(serialData, serialLength);
    float const alpha = reader.read<float>();
    if (!reader.ok() || reader.remaining() != 0)
    {
        pluginError(kNAME, "bad serialized data");
        return nullptr;
    }
    auto* plugin = new ScaledTanhPlugin(alpha);
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

} // namespace cookbook

#ifdef PLUGIN_LIBRARY_ENTRY_POINTS
// The entry points of a "plugin shared library" for IPluginRegistry::loadLibrary (TensorRT 8.6).
extern "C" void setLoggerFinder(nvinfer1::ILoggerFinder*) {} // this plugin logs nothing through TensorRT's logger

extern "C" nvinfer1::IPluginCreator* const* getPluginCreators(int32_t& nbCreators)
{
    static cookbook::ScaledTanhPluginCreator creator;
    static nvinfer1::IPluginCreator* const creators[] = {&creator};
    nbCreators = 1;
    return creators;
}
#else
namespace cookbook
{
REGISTER_TENSORRT_PLUGIN(ScaledTanhPluginCreator);
} // namespace cookbook
#endif
