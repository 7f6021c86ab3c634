// CuBLASGemm: y = x · W + b with cuBLAS, x [..., K] row-major, W [K, N], b [N], y [..., N]. FP32, TF32 off.
// Weights and sizes come as PluginFields (weight, bias, k, n) and are serialized into the plan.
//
// Where the cuBLAS handle comes from (attachToContext):
// - TensorRT passes a cublasContext* (== cublasHandle_t) per execution context when the builder config has the
//   kCUBLAS tactic source (the default in 8.6); the plugin uses it and must not destroy it.
// - With kCUBLAS removed from the tactic sources, TensorRT passes nullptr: the plugin then creates its own handle
//   in attachToContext and destroys it in detachFromContext (one per execution context, like TensorRT's).
// This plugin does both, so it works whatever the application sets. A handle per context (not one per plugin made
// in the constructor, as older samples do) keeps two contexts running on two streams from sharing a handle.
#pragma once

#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cublas_v2.h>

#include <string>
#include <vector>

namespace cookbook
{

class CuBLASGemmPlugin : public nvinfer1::IPluginV2DynamicExt
{
public:
    CuBLASGemmPlugin(int32_t k, int32_t n, std::vector<float> weight, std::vector<float> bias);
    CuBLASGemmPlugin(void const* data, size_t length); // from the plan
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
    void attachToContext(
        cudnnContext* cudnn, cublasContext* cublas, nvinfer1::IGpuAllocator* allocator) noexcept override;
    void detachFromContext() noexcept override;
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
    int32_t mK{0}, mN{0};
    std::vector<float> mWeight, mBias; // host copies: what serialize() writes
    float* mDeviceWeight{nullptr};     // W then b on the GPU, from initialize() to terminate()
    cublasHandle_t mHandle{nullptr};   // from attachToContext
    bool mOwnHandle{false};            // true: created by the plugin (TensorRT passed nullptr)
    std::string mNamespace;
    bool mValid{true};
};

class CuBLASGemmPluginCreator : public CreatorBase
{
public:
    CuBLASGemmPluginCreator();
    nvinfer1::AsciiChar const* getPluginName() const noexcept override;
    nvinfer1::AsciiChar const* getPluginVersion() const noexcept override;
    nvinfer1::IPluginV2* createPlugin(
        nvinfer1::AsciiChar const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(
        nvinfer1::AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override;
};

} // namespace cookbook
