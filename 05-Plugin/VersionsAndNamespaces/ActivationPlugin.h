// Two versions of one plugin, "Activation", registered side by side in the namespace "cookbook":
//   version "1": y = max(x, 0)                     (ReLU; no attributes, nothing serialized)
//   version "2": y = x >= 0 ? x : alpha * x        (leaky ReLU; attribute alpha, serialized into the plan)
// TensorRT tells plugins apart by (name, version, namespace): the plan records all three for each plugin layer and
// deserialization asks the registry for exactly that creator, so a plan built with version 1 keeps working after
// version 2 is added. One plugin class serves both versions here (mVersion); each version has its own creator.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>

#include <string>

namespace cookbook
{

static char const* const kACTIVATION_NAME = "Activation";
static char const* const kACTIVATION_NAMESPACE = "cookbook";

class ActivationPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    ActivationPlugin(int32_t version, float alpha) : mVersion(version), mAlpha(alpha) {}

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
    int32_t mVersion; // 1 or 2
    float mAlpha;     // version 2 only
    std::string mNamespace;
};

class ActivationV1Creator : public CreatorBase
{
public:
    ActivationV1Creator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(
        nvinfer1::AsciiChar const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(
        nvinfer1::AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override;
};

class ActivationV2Creator : public CreatorBase
{
public:
    ActivationV2Creator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(
        nvinfer1::AsciiChar const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(
        nvinfer1::AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override;
};

} // namespace cookbook
