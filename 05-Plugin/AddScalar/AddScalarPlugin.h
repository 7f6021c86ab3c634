// 05-Plugin/AddScalar: output = input + scalar, as an IPluginV2DynamicExt plugin and its IPluginCreator.
//
// A TensorRT plugin is two classes:
//   AddScalarPlugin         one layer of a network: reports shapes, types and formats to the builder, runs the
//                           kernel (enqueue), writes its parameters into the plan (serialize)
//   AddScalarPluginCreator  the factory TensorRT finds in the plugin registry by name + version + namespace:
//                           createPlugin() from PluginFields (network building), deserializePlugin() from the bytes
//                           serialize() wrote (loading a plan)
// REGISTER_TENSORRT_PLUGIN(AddScalarPluginCreator) in the .cu file puts the creator into the registry when the .so is
// loaded (ctypes.CDLL in Python, dlopen or linking in C++).
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

namespace cookbook
{

class AddScalarPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    AddScalarPlugin(std::string const& name, float scalar);                        // createPlugin, clone
    AddScalarPlugin(std::string const& name, void const* data, size_t length);     // deserializePlugin
    AddScalarPlugin() = delete;

    // IPluginV2: identity, life cycle, serialization
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

    // IPluginV2Ext: output data types, per-context resources
    nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                         int32_t nbInputs) const noexcept override;
    void attachToContext(cudnnContext* cudnn, cublasContext* cublas,
                         nvinfer1::IGpuAllocator* allocator) noexcept override;
    void detachFromContext() noexcept override;

    // IPluginV2DynamicExt: shapes as expressions, formats, configuration, workspace, the kernel launch
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
                    void const* const* inputs, void* const* outputs, void* workspace,
                    cudaStream_t stream) noexcept override;

private:
    std::string mName;       // the layer's name (given by createPlugin / deserializePlugin)
    std::string mNamespace;  // set by TensorRT after creation
    float mScalar;           // the plugin's one parameter: serialized into the plan
};

class AddScalarPluginCreator : public nvinfer1::IPluginCreator
{
public:
    AddScalarPluginCreator();

    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV2* createPlugin(nvinfer1::AsciiChar const* name,
                                      nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(nvinfer1::AsciiChar const* name, void const* serialData,
                                           size_t serialLength) noexcept override;
    void setPluginNamespace(nvinfer1::AsciiChar const* pluginNamespace) noexcept override;
    nvinfer1::AsciiChar const* getPluginNamespace() const noexcept override;

private:
    std::string mNamespace;
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mFieldCollection;
};

} // namespace cookbook
