// A small repository of TensorRT 8.6 plugins for operations 8.6 has no single layer for, built into one library
// (PluginRepository.so, one .cu file per plugin). Every plugin is an IPluginV2DynamicExt of version "1" in the
// namespace "", FP32 unless said otherwise:
//   CumSum       y = cumulative sum of x along `axis` (INT32 field, negative counts from the end); `exclusive` (INT32
//                0/1) leaves each element out of its own sum (y[0] = 0)
//   MaskedFill   x [B, T, ...] and lengths [B] (INT32): y = x where t < lengths[b], else `value` (FLOAT32 field)
//   TopKAverage  x [..., L] -> y [...]: the mean of the `k` (INT32 field, 1..64) largest values of each last-axis row
//   BiasGelu     y = GELU(x + bias) along the last axis, bias a FLOAT32 weight field; `approximate` (INT32) 0: the
//                exact x/2 (1 + erf(x/sqrt 2)), 1: the tanh approximation
// RepositoryPlugin below holds what the four share (one output, no workspace, no initialize/terminate work, the
// namespace); each plugin adds its attributes, shapes, formats, serialization and kernel.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>

#include <string>
#include <vector>

namespace cookbook
{

class RepositoryPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }
    int32_t initialize() noexcept override
    {
        return 0;
    }
    void terminate() noexcept override {}
    void destroy() noexcept override
    {
        delete this;
    }
    void setPluginNamespace(nvinfer1::AsciiChar const* pluginNamespace) noexcept override
    {
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }
    nvinfer1::AsciiChar const* getPluginNamespace() const noexcept override
    {
        return mNamespace.c_str();
    }
    nvinfer1::DataType getOutputDataType(int32_t, nvinfer1::DataType const*, int32_t) const noexcept override
    {
        return nvinfer1::DataType::kFLOAT;
    }
    void configurePlugin(nvinfer1::DynamicPluginTensorDesc const*, int32_t, nvinfer1::DynamicPluginTensorDesc const*,
        int32_t) noexcept override
    {
    }
    size_t getWorkspaceSize(nvinfer1::PluginTensorDesc const*, int32_t, nvinfer1::PluginTensorDesc const*,
        int32_t) const noexcept override
    {
        return 0;
    }

protected:
    // FP32, linear: the common case of supportsFormatCombination
    static bool isLinearFloat(nvinfer1::PluginTensorDesc const& desc) noexcept
    {
        return desc.type == nvinfer1::DataType::kFLOAT && desc.format == nvinfer1::TensorFormat::kLINEAR;
    }
    // a copy of this plugin (clone()) with the namespace kept
    template <typename Plugin>
    static Plugin* withNamespace(Plugin* plugin, std::string const& pluginNamespace) noexcept
    {
        plugin->setPluginNamespace(pluginNamespace.c_str());
        return plugin;
    }

    std::string mNamespace;
};

// The creator of one plugin type: name, version "1", the fields it documents; createPlugin and deserializePlugin
// are written per plugin.
class RepositoryCreator : public CreatorBase
{
public:
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override
    {
        return "1";
    }
};

inline unsigned blocksFor(int64_t n, int threads = 256)
{
    return static_cast<unsigned>((n + threads - 1) / threads);
}

} // namespace cookbook
