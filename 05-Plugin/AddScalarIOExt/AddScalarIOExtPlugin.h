// 05-Plugin/AddScalarIOExt: AddScalar (output = input + scalar) as an IPluginV2IOExt plugin. The methods it shares
// with IPluginV2DynamicExt are explained in ../AddScalar/AddScalarPlugin.cu; the comments here say what differs.
// IPluginV2IOExt sees shapes as plain Dims (no expressions): the builder must know every dimension, so it is for
// implicit-batch networks and for explicit-batch networks whose input shapes are all static.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

namespace cookbook
{

class AddScalarIOExtPlugin : public nvinfer1::IPluginV2IOExt
{
public:
    AddScalarIOExtPlugin(std::string const& name, float scalar, int64_t nElement);
    AddScalarIOExtPlugin(std::string const& name, void const* data, size_t length);
    AddScalarIOExtPlugin() = delete;

    // IPluginV2
    nvinfer1::AsciiChar const* getPluginType() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    int32_t getNbOutputs() const noexcept override;
    nvinfer1::Dims getOutputDimensions(int32_t index, nvinfer1::Dims const* inputs, int32_t nbInputDims) noexcept override;
    int32_t initialize() noexcept override;
    void terminate() noexcept override;
    size_t getWorkspaceSize(int32_t maxBatchSize) const noexcept override;
    int32_t enqueue(int32_t batchSize, void const* const* inputs, void* const* outputs, void* workspace,
                    cudaStream_t stream) noexcept override;
    size_t getSerializationSize() const noexcept override;
    void serialize(void* buffer) const noexcept override;
    void destroy() noexcept override;
    void setPluginNamespace(nvinfer1::AsciiChar const* pluginNamespace) noexcept override;
    nvinfer1::AsciiChar const* getPluginNamespace() const noexcept override;

    // IPluginV2Ext
    nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                         int32_t nbInputs) const noexcept override;
    bool isOutputBroadcastAcrossBatch(int32_t outputIndex, bool const* inputIsBroadcasted,
                                      int32_t nbInputs) const noexcept override;
    bool canBroadcastInputAcrossBatch(int32_t inputIndex) const noexcept override;
    nvinfer1::IPluginV2Ext* clone() const noexcept override;

    // IPluginV2IOExt
    void configurePlugin(nvinfer1::PluginTensorDesc const* in, int32_t nbInput, nvinfer1::PluginTensorDesc const* out,
                         int32_t nbOutput) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) const noexcept override;

private:
    std::string mName;
    std::string mNamespace;
    float mScalar;
    int64_t mNElement;  // elements per batch item, from configurePlugin: serialized, enqueue gets no shapes
};

class AddScalarIOExtPluginCreator : public CreatorBase
{
public:
    AddScalarIOExtPluginCreator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(nvinfer1::AsciiChar const* name,
                                      nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(nvinfer1::AsciiChar const* name, void const* serialData,
                                           size_t serialLength) noexcept override;
};

} // namespace cookbook
