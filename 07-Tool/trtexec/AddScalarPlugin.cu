// 07-Tool/trtexec / AddScalarPlugin.cu: the smallest IPluginV2DynamicExt, y = x + scalar (float32, linear format),
// registered with REGISTER_TENSORRT_PLUGIN so that loading the .so is enough: `trtexec --plugins=./AddScalarPlugin.so`
// dlopen()s it, the static registration runs, and the ONNX parser finds the creator "AddScalar" (version "1") for the
// node of that op_type, passing the node's attribute `scalar` as a PluginField of type kFLOAT32.
#include <NvInfer.h>

#include <cstring>
#include <string>

using namespace nvinfer1;

// file-local (static, not an anonymous namespace: nvcc's generated stub finds the anonymous namespace that NvInfer.h's
// headers also open ambiguous after `using namespace nvinfer1`)
static const char *kName {"AddScalar"};
static const char *kVersion {"1"};

static __global__ void addScalarKernel(const float *input, float *output, float scalar, int64_t n)
{
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n)
        output[i] = input[i] + scalar;
}

class AddScalarPlugin : public IPluginV2DynamicExt
{
public:
    explicit AddScalarPlugin(float scalar): mScalar(scalar) {}
    AddScalarPlugin(const void *data, size_t length) { std::memcpy(&mScalar, data, sizeof(mScalar)); }

    // IPluginV2DynamicExt: shapes, formats, execution
    IPluginV2DynamicExt *clone() const noexcept override
    {
        auto *plugin = new AddScalarPlugin(mScalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    DimsExprs getOutputDimensions(int32_t, const DimsExprs *inputs, int32_t, IExprBuilder &) noexcept override
    {
        return inputs[0]; // elementwise: same shape as the input
    }
    bool supportsFormatCombination(int32_t pos, const PluginTensorDesc *inOut, int32_t, int32_t) noexcept override
    {
        return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
    }
    void configurePlugin(const DynamicPluginTensorDesc *, int32_t, const DynamicPluginTensorDesc *, int32_t) noexcept override {}
    size_t getWorkspaceSize(const PluginTensorDesc *, int32_t, const PluginTensorDesc *, int32_t) const noexcept override
    {
        return 0;
    }
    int32_t enqueue(const PluginTensorDesc *inputDesc, const PluginTensorDesc *, const void *const *inputs,
                    void *const *outputs, void *, cudaStream_t stream) noexcept override
    {
        int64_t n = 1;
        for (int32_t i = 0; i < inputDesc[0].dims.nbDims; ++i)
            n *= inputDesc[0].dims.d[i];
        const int block = 256;
        const int grid  = static_cast<int>((n + block - 1) / block);
        if (n > 0)
            addScalarKernel<<<grid, block, 0, stream>>>(static_cast<const float *>(inputs[0]),
                                                        static_cast<float *>(outputs[0]), mScalar, n);
        return cudaGetLastError() == cudaSuccess ? 0 : 1;
    }

    // IPluginV2Ext
    DataType getOutputDataType(int32_t, const DataType *inputTypes, int32_t) const noexcept override
    {
        return inputTypes[0];
    }

    // IPluginV2: identity, life cycle, serialization
    const char *getPluginType() const noexcept override { return kName; }
    const char *getPluginVersion() const noexcept override { return kVersion; }
    int32_t     getNbOutputs() const noexcept override { return 1; }
    int32_t     initialize() noexcept override { return 0; }
    void        terminate() noexcept override {}
    size_t      getSerializationSize() const noexcept override { return sizeof(mScalar); }
    void        serialize(void *buffer) const noexcept override { std::memcpy(buffer, &mScalar, sizeof(mScalar)); }
    void        destroy() noexcept override { delete this; }
    void        setPluginNamespace(const char *pluginNamespace) noexcept override { mNamespace = pluginNamespace; }
    const char *getPluginNamespace() const noexcept override { return mNamespace.c_str(); }

private:
    float       mScalar {0.0f};
    std::string mNamespace;
};

class AddScalarPluginCreator : public IPluginCreator
{
public:
    AddScalarPluginCreator()
    {
        mFields[0]          = PluginField("scalar", nullptr, PluginFieldType::kFLOAT32, 1);
        mCollection.nbFields = 1;
        mCollection.fields   = mFields;
    }
    const char                  *getPluginName() const noexcept override { return kName; }
    const char                  *getPluginVersion() const noexcept override { return kVersion; }
    const PluginFieldCollection *getFieldNames() noexcept override { return &mCollection; }
    IPluginV2                   *createPlugin(const char *, const PluginFieldCollection *fc) noexcept override
    {
        float scalar = 0.0f;
        for (int32_t i = 0; i < fc->nbFields; ++i)
            if (std::string(fc->fields[i].name) == "scalar" && fc->fields[i].type == PluginFieldType::kFLOAT32)
                scalar = *static_cast<const float *>(fc->fields[i].data);
        auto *plugin = new AddScalarPlugin(scalar);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    IPluginV2 *deserializePlugin(const char *, const void *serialData, size_t serialLength) noexcept override
    {
        auto *plugin = new AddScalarPlugin(serialData, serialLength);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }
    void        setPluginNamespace(const char *pluginNamespace) noexcept override { mNamespace = pluginNamespace; }
    const char *getPluginNamespace() const noexcept override { return mNamespace.c_str(); }

private:
    PluginField           mFields[1];
    PluginFieldCollection mCollection {};
    std::string           mNamespace;
};

REGISTER_TENSORRT_PLUGIN(AddScalarPluginCreator);
