// 05-Plugin/MultipleIO: a plugin with two inputs, two outputs and a workspace, on dynamic shapes.
//   inputs   x0 [N, C0, H], x1 [N, C1, H]     (N and H equal in both; every dimension dynamic)
//   output 0 concat(x0, x1) along axis 1: [N, C0 + C1, H]     (shape: an IExprBuilder sum C0 + C1)
//   output 1 sum over axis 1 of that concatenation: [N, H]   (shape: two of the input's dimensions)
// The workspace holds x0's partial sums [N, H] (one float each): getWorkspaceSize computes its size from the real
// input shapes, enqueue gets it from TensorRT (no cudaMalloc in enqueue). The methods every plugin has are explained
// in ../AddScalar/AddScalarPlugin.cu; the comments here are about several inputs and outputs.
#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <string>

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"MultipleIO"};
static char const* const kPLUGIN_VERSION{"1"};

// out0[n, c, h] = x0[n, c, h] for c < C0, else x1[n, c - C0, h]
static __global__ void concatKernel(float const* x0, float const* x1, float* out0, int32_t N, int32_t C0, int32_t C1,
                                    int32_t H)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    int32_t const C = C0 + C1;
    if (index >= static_cast<int64_t>(N) * C * H)
    {
        return;
    }
    int32_t const h = index % H;
    int32_t const c = (index / H) % C;
    int32_t const n = index / (static_cast<int64_t>(H) * C);
    out0[index] = c < C0 ? x0[(static_cast<int64_t>(n) * C0 + c) * H + h]
                         : x1[(static_cast<int64_t>(n) * C1 + (c - C0)) * H + h];
}

// partial[n, h] = sum over c of x[n, c, h] (+ partial[n, h] when accumulate): first x0 into the workspace, then
// x1 on top of it into output 1
static __global__ void channelSumKernel(float const* x, float const* partial, float* out, int32_t N, int32_t C,
                                        int32_t H)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index >= static_cast<int64_t>(N) * H)
    {
        return;
    }
    int32_t const h = index % H;
    int32_t const n = index / H;
    float sum = partial == nullptr ? 0.F : partial[index];
    for (int32_t c = 0; c < C; ++c)
    {
        sum += x[(static_cast<int64_t>(n) * C + c) * H + h];
    }
    out[index] = sum;
}

static uint32_t blocks(int64_t n)
{
    return static_cast<uint32_t>((n + 255) / 256);
}

class MultipleIOPlugin : public IPluginV2DynamicExt
{
public:
    explicit MultipleIOPlugin(std::string const& name) : mName(name) {}

    AsciiChar const* getPluginType() const noexcept override
    {
        return kPLUGIN_NAME;
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    // Two outputs: TensorRT asks getOutputDimensions and getOutputDataType once per output index.
    int32_t getNbOutputs() const noexcept override
    {
        return 2;
    }
    int32_t initialize() noexcept override
    {
        return 0;
    }
    void terminate() noexcept override {}
    size_t getSerializationSize() const noexcept override
    {
        return 0;  // no parameters
    }
    void serialize(void* /*buffer*/) const noexcept override {}
    void destroy() noexcept override
    {
        delete this;
    }
    void setPluginNamespace(AsciiChar const* pluginNamespace) noexcept override
    {
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }
    AsciiChar const* getPluginNamespace() const noexcept override
    {
        return mNamespace.c_str();
    }
    DataType getOutputDataType(int32_t /*index*/, DataType const* /*inputTypes*/, int32_t /*nbInputs*/) const noexcept override
    {
        return DataType::kFLOAT;
    }
    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = new MultipleIOPlugin(mName);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }

    // outputIndex indexes the outputs only; inputs[i].d[j] are expressions (constants where the dimension is static,
    // otherwise symbols known at run time). exprBuilder combines them: kSUM, kPROD, kMAX, kFLOOR_DIV, ...
    DimsExprs getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& exprBuilder) noexcept override
    {
        DimsExprs result;
        if (outputIndex == 0)  // [N, C0 + C1, H]
        {
            result.nbDims = 3;
            result.d[0] = inputs[0].d[0];
            result.d[1] = exprBuilder.operation(DimensionOperation::kSUM, *inputs[0].d[1], *inputs[1].d[1]);
            result.d[2] = inputs[0].d[2];
        }
        else  // [N, H]
        {
            result.nbDims = 2;
            result.d[0] = inputs[0].d[0];
            result.d[1] = inputs[0].d[2];
        }
        return result;
    }

    // pos 0, 1: the inputs; pos 2, 3: the outputs. FP32, linear, all four.
    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
    }

    // A place to check what the builder cannot: here, that N and H of the two inputs agree over the profile.
    void configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* /*out*/,
                         int32_t /*nbOutputs*/) noexcept override
    {
        if (nbInputs == 2 && (in[0].desc.dims.d[0] != in[1].desc.dims.d[0] || in[0].desc.dims.d[2] != in[1].desc.dims.d[2]))
        {
            pluginError(kPLUGIN_NAME, "x0 and x1 must have the same first and last dimensions");
        }
    }

    // Called with the real shapes (build: for each profile's shapes; run: TensorRT reserves the maximum): N * H
    // floats for x0's partial sums.
    size_t getWorkspaceSize(PluginTensorDesc const* inputs, int32_t /*nbInputs*/, PluginTensorDesc const* /*outputs*/,
                            int32_t /*nbOutputs*/) const noexcept override
    {
        return sizeof(float) * static_cast<size_t>(inputs[0].dims.d[0]) * static_cast<size_t>(inputs[0].dims.d[2]);
    }

    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) noexcept override
    {
        int32_t const N = inputDesc[0].dims.d[0], C0 = inputDesc[0].dims.d[1], H = inputDesc[0].dims.d[2];
        int32_t const C1 = inputDesc[1].dims.d[1];
        auto const* x0 = static_cast<float const*>(inputs[0]);
        auto const* x1 = static_cast<float const*>(inputs[1]);
        auto* partial = static_cast<float*>(workspace);
        int64_t const nConcat = static_cast<int64_t>(N) * (C0 + C1) * H, nSum = static_cast<int64_t>(N) * H;
        if (nConcat > 0)
        {
            concatKernel<<<blocks(nConcat), 256, 0, stream>>>(x0, x1, static_cast<float*>(outputs[0]), N, C0, C1, H);
        }
        if (nSum > 0)
        {
            channelSumKernel<<<blocks(nSum), 256, 0, stream>>>(x0, nullptr, partial, N, C0, H);
            channelSumKernel<<<blocks(nSum), 256, 0, stream>>>(x1, partial, static_cast<float*>(outputs[1]), N, C1, H);
        }
        CHECK_RETURN(cudaGetLastError(), 1);
        return 0;
    }

private:
    std::string mName;
    std::string mNamespace;
};

class MultipleIOPluginCreator : public CreatorBase
{
public:
    MultipleIOPluginCreator()
    {
        updateFieldCollection();  // no fields
    }
    AsciiChar const* getPluginName() const noexcept override
    {
        return kPLUGIN_NAME;
    }
    AsciiChar const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    IPluginV2* createPlugin(AsciiChar const* name, PluginFieldCollection const* /*fc*/) noexcept override
    {
        auto* plugin = new MultipleIOPlugin(name);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2* deserializePlugin(AsciiChar const* name, void const* /*serialData*/, size_t /*serialLength*/) noexcept override
    {
        auto* plugin = new MultipleIOPlugin(name);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
};

REGISTER_TENSORRT_PLUGIN(MultipleIOPluginCreator);

} // namespace cookbook
