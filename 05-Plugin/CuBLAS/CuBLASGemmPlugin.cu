// CuBLASGemm (see CuBLASGemmPlugin.h): a GEMM with weights through cuBLAS, the handle from attachToContext.
#include "CuBLASGemmPlugin.h"

#include <atomic>
#include <cstdio>

using namespace nvinfer1;

namespace cookbook
{

static char const* const kNAME = "CuBLASGemm";
static char const* const kVERSION = "1";

// How often attachToContext got TensorRT's handle and how often the plugin created its own: main.py reads them through
// cuBLASGemmAttachCount (below) to check which way each build went.
static std::atomic<int32_t> gTensorRTHandles{0}, gOwnHandles{0};

// y[m, :] = b for every row m: the GEMM then adds x · W with beta = 1.
__global__ void broadcastBiasKernel(float* y, float const* bias, int64_t rows, int32_t n)
{
    int64_t const i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < rows * n)
    {
        y[i] = bias[i % n];
    }
}

CuBLASGemmPlugin::CuBLASGemmPlugin(int32_t k, int32_t n, std::vector<float> weight, std::vector<float> bias)
    : mK(k)
    , mN(n)
    , mWeight(std::move(weight))
    , mBias(std::move(bias))
{
}

// The plan holds: k, n (int32), weight[k * n], bias[n] (float).
CuBLASGemmPlugin::CuBLASGemmPlugin(void const* data, size_t length)
{
    BufferReader reader(data, length);
    mK = reader.read<int32_t>();
    mN = reader.read<int32_t>();
    if (reader.ok() && mK > 0 && mN > 0
        && (static_cast<size_t>(mK) + 1) * static_cast<size_t>(mN) * sizeof(float) == reader.remaining())
    {
        mWeight.resize(static_cast<size_t>(mK) * mN);
        mBias.resize(mN);
        reader.readArray(mWeight.data(), mWeight.size());
        reader.readArray(mBias.data(), mBias.size());
    }
    mValid = reader.ok() && !mWeight.empty() && reader.remaining() == 0;
}

AsciiChar const* CuBLASGemmPlugin::getPluginType() const noexcept
{
    return kNAME;
}

AsciiChar const* CuBLASGemmPlugin::getPluginVersion() const noexcept
{
    return kVERSION;
}

int32_t CuBLASGemmPlugin::getNbOutputs() const noexcept
{
    return 1;
}

// Idempotent: clone() calls it too (see there).
int32_t CuBLASGemmPlugin::initialize() noexcept
{
    if (mDeviceWeight != nullptr)
    {
        return 0;
    }
    size_t const bytes = (mWeight.size() + mBias.size()) * sizeof(float);
    CHECK_RETURN(cudaMalloc(&mDeviceWeight, bytes), 1);
    CHECK_RETURN(cudaMemcpy(mDeviceWeight, mWeight.data(), mWeight.size() * sizeof(float), cudaMemcpyHostToDevice), 1);
    CHECK_RETURN(cudaMemcpy(mDeviceWeight + mWeight.size(), mBias.data(), mBias.size() * sizeof(float),
                     cudaMemcpyHostToDevice),
        1);
    return 0;
}

void CuBLASGemmPlugin::terminate() noexcept
{
    if (mDeviceWeight != nullptr)
    {
        cudaFree(mDeviceWeight);
        mDeviceWeight = nullptr;
    }
}

size_t CuBLASGemmPlugin::getSerializationSize() const noexcept
{
    return serializedSize(mK, mN) + (mWeight.size() + mBias.size()) * sizeof(float);
}

void CuBLASGemmPlugin::serialize(void* buffer) const noexcept
{
    BufferWriter writer(buffer, getSerializationSize());
    writer.write(mK);
    writer.write(mN);
    writer.writeArray(mWeight.data(), mWeight.size());
    writer.writeArray(mBias.data(), mBias.size());
}

void CuBLASGemmPlugin::destroy() noexcept
{
    detachFromContext();
    terminate();
    delete this;
}

void CuBLASGemmPlugin::setPluginNamespace(AsciiChar const* pluginNamespace) noexcept
{
    mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
}

AsciiChar const* CuBLASGemmPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

DataType CuBLASGemmPlugin::getOutputDataType(int32_t, DataType const* inputTypes, int32_t) const noexcept
{
    return inputTypes[0];
}

// Called for each execution context (and for the builder's own while it times tactics).
void CuBLASGemmPlugin::attachToContext(cudnnContext*, cublasContext* cublas, IGpuAllocator*) noexcept
{
    detachFromContext();
    if (cublas != nullptr) // the kCUBLAS tactic source is on: TensorRT's handle for this context, TensorRT owns it
    {
        mHandle = cublas;
        mOwnHandle = false;
        ++gTensorRTHandles;
        std::printf("[plugin %s] attachToContext: using the cuBLAS handle TensorRT passed\n", kNAME);
    }
    else if (cublasCreate(&mHandle) == CUBLAS_STATUS_SUCCESS) // kCUBLAS is off: a handle of our own
    {
        mOwnHandle = true;
        ++gOwnHandles;
        std::printf("[plugin %s] attachToContext: TensorRT passed no cuBLAS handle, created one\n", kNAME);
    }
    else
    {
        mHandle = nullptr;
        pluginError(kNAME, "cublasCreate failed");
    }
    std::fflush(stdout);
}

void CuBLASGemmPlugin::detachFromContext() noexcept
{
    if (mOwnHandle && mHandle != nullptr)
    {
        cublasDestroy(mHandle);
    }
    mHandle = nullptr;
    mOwnHandle = false;
}

// A clone is attached to its own context later: it gets no handle here. TensorRT calls initialize() once per engine,
// not on the clones it makes for execution contexts (which run enqueue): a clone of an initialized plugin gets its
// own device copy of the weights here, ready to use.
IPluginV2DynamicExt* CuBLASGemmPlugin::clone() const noexcept
{
    auto* plugin = new CuBLASGemmPlugin(mK, mN, mWeight, mBias);
    plugin->setPluginNamespace(mNamespace.c_str());
    if (mDeviceWeight != nullptr && plugin->initialize() != 0)
    {
        plugin->destroy();
        return nullptr;
    }
    return plugin;
}

DimsExprs CuBLASGemmPlugin::getOutputDimensions(int32_t, DimsExprs const* inputs, int32_t, IExprBuilder& exprBuilder) noexcept
{
    DimsExprs output = inputs[0];
    output.d[output.nbDims - 1] = exprBuilder.constant(mN); // [..., K] -> [..., N]
    return output;
}

bool CuBLASGemmPlugin::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t, int32_t) noexcept
{
    return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
}

void CuBLASGemmPlugin::configurePlugin(DynamicPluginTensorDesc const* in, int32_t, DynamicPluginTensorDesc const*, int32_t) noexcept
{
    int32_t const k = in[0].desc.dims.d[in[0].desc.dims.nbDims - 1];
    if (k != -1 && k != mK)
    {
        pluginError(kNAME, "the input's last dimension is not k");
    }
}

size_t CuBLASGemmPlugin::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) const noexcept
{
    return 0;
}

int32_t CuBLASGemmPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*, void const* const* inputs,
    void* const* outputs, void*, cudaStream_t stream) noexcept
{
    if (mHandle == nullptr) // no attachToContext before this enqueue (e.g. the builder timing the plugin): own handle
    {
        if (cublasCreate(&mHandle) != CUBLAS_STATUS_SUCCESS)
        {
            mHandle = nullptr;
            pluginError(kNAME, "enqueue without a cuBLAS handle, and cublasCreate failed");
            return 1;
        }
        mOwnHandle = true;
        ++gOwnHandles;
        std::printf("[plugin %s] enqueue before any attachToContext: created a cuBLAS handle\n", kNAME);
        std::fflush(stdout);
    }
    if (mDeviceWeight == nullptr && initialize() != 0)  // safety net: an object that was never initialized
    {
        return 1;
    }
    int64_t const rows = volume(inputDesc[0].dims) / mK; // M: every dimension but the last
    if (rows == 0)
    {
        return 0;
    }
    auto* y = static_cast<float*>(outputs[0]);
    broadcastBiasKernel<<<static_cast<unsigned>((rows * mN + 255) / 256), 256, 0, stream>>>(
        y, mDeviceWeight + mWeight.size(), rows, mN);
    CHECK_RETURN(cudaGetLastError(), 1);

    // The handle may be TensorRT's: set our stream and math mode, put TensorRT's math mode back afterwards.
    cublasMath_t mode{};
    if (cublasSetStream(mHandle, stream) != CUBLAS_STATUS_SUCCESS || cublasGetMathMode(mHandle, &mode) != CUBLAS_STATUS_SUCCESS
        || cublasSetMathMode(mHandle, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) // FP32 math, no TF32
    {
        pluginError(kNAME, "cublasSetStream / cublasSetMathMode failed");
        return 1;
    }
    // cuBLAS is column-major: the row-major y [M, N] = x [M, K] · W [K, N] is, read column-major,
    // y^T [N, M] = W^T [N, K] · x^T [K, M], with W^T's leading dimension N and x^T's K.
    float const alpha = 1.F, beta = 1.F;
    cublasStatus_t const status = cublasSgemm(mHandle, CUBLAS_OP_N, CUBLAS_OP_N, mN, static_cast<int>(rows), mK, &alpha,
        mDeviceWeight, mN, static_cast<float const*>(inputs[0]), mK, &beta, y, mN);
    cublasSetMathMode(mHandle, mode);
    if (status != CUBLAS_STATUS_SUCCESS)
    {
        pluginError(kNAME, "cublasSgemm failed");
        return 1;
    }
    return 0;
}

CuBLASGemmPluginCreator::CuBLASGemmPluginCreator()
{
    mFields = {PluginField("weight", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("bias", nullptr, PluginFieldType::kFLOAT32, 0), PluginField("k", nullptr, PluginFieldType::kINT32, 1),
        PluginField("n", nullptr, PluginFieldType::kINT32, 1)};
    updateFieldCollection();
}

AsciiChar const* CuBLASGemmPluginCreator::getPluginName() const noexcept
{
    return kNAME;
}

AsciiChar const* CuBLASGemmPluginCreator::getPluginVersion() const noexcept
{
    return kVERSION;
}

IPluginV2* CuBLASGemmPluginCreator::createPlugin(AsciiChar const*, PluginFieldCollection const* fc) noexcept
{
    int32_t k = 0, n = 0;
    PluginField const* weight = findPluginField(fc, "weight");
    PluginField const* bias = findPluginField(fc, "bias");
    if (!readPluginField(fc, "k", PluginFieldType::kINT32, &k) || !readPluginField(fc, "n", PluginFieldType::kINT32, &n)
        || k <= 0 || n <= 0 || weight == nullptr || bias == nullptr || weight->type != PluginFieldType::kFLOAT32
        || bias->type != PluginFieldType::kFLOAT32 || weight->length != k * n || bias->length != n)
    {
        pluginError(kNAME, "needs INT32 fields k, n > 0 and FLOAT32 fields weight (k * n values) and bias (n)");
        return nullptr;
    }
    auto const* w = static_cast<float const*>(weight->data);
    auto const* b = static_cast<float const*>(bias->data);
    auto* plugin = new CuBLASGemmPlugin(k, n, std::vector<float>(w, w + k * n), std::vector<float>(b, b + n));
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

IPluginV2* CuBLASGemmPluginCreator::deserializePlugin(AsciiChar const*, void const* serialData, size_t serialLength) noexcept
{
    auto* plugin = new CuBLASGemmPlugin(serialData, serialLength);
    if (!plugin->valid())
    {
        pluginError(kNAME, "the serialized data is not a CuBLASGemm plugin");
        delete plugin;
        return nullptr;
    }
    plugin->setPluginNamespace(mNamespace.c_str());
    return plugin;
}

REGISTER_TENSORRT_PLUGIN(CuBLASGemmPluginCreator);

} // namespace cookbook

// For main.py (ctypes): how many times attachToContext used TensorRT's handle (own == 0), or the plugin created one
// (own == 1: in attachToContext, or in an enqueue that came before any attachToContext).
extern "C" int32_t cuBLASGemmAttachCount(int32_t own)
{
    return own != 0 ? cookbook::gOwnHandles.load() : cookbook::gTensorRTHandles.load();
}
