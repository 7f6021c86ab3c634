// ChannelAffineClip: y = min(max(x * weight[c] + bias[c], clipMin), clipMax), c = the index along the last axis.
// A plugin with weights (weight and bias, one float per channel) and attributes (clipMin, clipMax): the creator
// receives all four as PluginFields (the Python script reads the weights from weights.npz), the plugin copies them
// (the caller's arrays may go away after createPlugin) and writes them into the plan in serialize(); the creator's
// deserializePlugin reads them back when the plan is loaded, so the plan needs no weights file, only this library.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>

#include <string>
#include <vector>

namespace cookbook
{

class ChannelAffineClipPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    ChannelAffineClipPlugin(std::vector<float> weight, std::vector<float> bias, float clipMin, float clipMax);
    ChannelAffineClipPlugin(void const* data, size_t length); // from the plan (deserializePlugin)
    bool valid() const noexcept
    {
        return mValid;
    }

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
    std::vector<float> mWeight, mBias; // host copies: what serialize() writes
    float mClipMin{0.F}, mClipMax{0.F};
    float* mDeviceWeightBias{nullptr}; // weight then bias on the GPU, from initialize() to terminate()
    std::string mNamespace;
    bool mValid{true};
};

class ChannelAffineClipPluginCreator : public CreatorBase
{
public:
    ChannelAffineClipPluginCreator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(
        nvinfer1::AsciiChar const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(
        nvinfer1::AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override;
};

} // namespace cookbook
