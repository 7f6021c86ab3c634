// CookbookLayerNorm: y = (x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis of x [..., H], FP32.
// Inputs: x, gamma [H], beta [H] (the ONNX initializers of the replaced subgraph, constants after parsing);
// attribute: epsilon (FLOAT32). The ONNX parser of TensorRT 8.6 meets a node whose op type it has no importer for,
// asks the plugin registry for a creator of that name (version "1", namespace "" unless the node has the attributes
// plugin_version / plugin_namespace) and hands it the node's attributes as PluginFields: a float attribute becomes a
// FLOAT32 field of length 1. Named CookbookLayerNorm, not LayerNorm, so as not to meet a plugin of libnvinfer_plugin.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>

#include <string>

namespace cookbook
{

class LayerNormPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    explicit LayerNormPlugin(float epsilon) : mEpsilon(epsilon) {}

    // IPluginV2
    nvinfer1::AsciiChar const* getPluginType() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    int32_t getNbOutputs() const noexcept override;
    int32_t initialize() noexcept override;
    void terminate() noexcept override;
    size_t getSerializationSize() const noexcept override;
    void serialize(void* buffer) const noexcept override;
    void destroy() noexcept override;
    void setPluginNamespace(nvinfer1::AsciiChar const* pluginNamespace) noexcept override;
    nvinfer1::AsciiChar const* getPluginNamespace() const noexcept override;
    // IPluginV2Ext
    nvinfer1::DataType getOutputDataType(
        int32_t index, nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    // IPluginV2DynamicExt
    nvinfer1::IPluginV2DynamicExt* clone() const noexcept override;
    nvinfer1::DimsExprs getOutputDimensions(int32_t outputIndex, nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    void configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::PluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;

private:
    float mEpsilon;
    std::string mNamespace;
};

class LayerNormPluginCreator : public CreatorBase
{
public:
    LayerNormPluginCreator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(
        nvinfer1::AsciiChar const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(
        nvinfer1::AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override;
};

} // namespace cookbook
