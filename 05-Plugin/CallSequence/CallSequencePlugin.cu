// 05-Plugin/CallSequence: the AddScalar plugin (../AddScalar) with every method of the plugin and of its creator
// logging its call: "[plugin] CallSequence#<object id> <method> <details>" on stdout (flushed), and the same line
// appended to the file named by the environment variable CALL_SEQUENCE_LOG when it is set (main.py reads it there).
// Object ids count plugin objects in the order they are constructed, so clones can be told apart.
#include "cookbookPlugin.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace cookbook
{
using namespace nvinfer1;

static char const* const kPLUGIN_NAME{"CallSequence"};
static char const* const kPLUGIN_VERSION{"1"};

static void logCall(char const* format, ...)
{
    char line[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    std::printf("[plugin] %s\n", line);
    std::fflush(stdout);
    char const* path = std::getenv("CALL_SEQUENCE_LOG");
    if (path != nullptr && path[0] != '\0')
    {
        if (FILE* file = std::fopen(path, "a"))
        {
            std::fprintf(file, "%s\n", line);
            std::fclose(file);
        }
    }
}

static char const* typeName(DataType type)
{
    switch (type)
    {
    case DataType::kFLOAT: return "FLOAT";
    case DataType::kHALF: return "HALF";
    case DataType::kINT8: return "INT8";
    case DataType::kINT32: return "INT32";
    case DataType::kBOOL: return "BOOL";
    case DataType::kUINT8: return "UINT8";
    case DataType::kFP8: return "FP8";
    }
    return "?";
}

static std::string dimsString(Dims const& dims)
{
    return shapeString(dims);
}

static __global__ void addScalarKernel(float const* input, float* output, float const scalar, int64_t const nElement)
{
    int64_t const index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < nElement)
    {
        output[index] = input[index] + scalar;
    }
}

static std::atomic<int32_t> gNextId{0};

class CallSequencePlugin : public IPluginV2DynamicExt
{
public:
    CallSequencePlugin(std::string const& name, float scalar, char const* why)
        : mName(name), mScalar(scalar), mId(gNextId++)
    {
        logCall("CallSequence#%d constructor (%s)", mId, why);
    }

    CallSequencePlugin(std::string const& name, void const* data, size_t length)
        : mName(name), mScalar(0.F), mId(gNextId++)
    {
        BufferReader reader(data, length);
        mScalar = reader.read<float>();
        logCall("CallSequence#%d constructor (from %zu serialized bytes, ok=%d)", mId, length,
                int(reader.ok() && reader.remaining() == 0));
    }

    ~CallSequencePlugin() override = default;

    AsciiChar const* getPluginType() const noexcept override
    {
        logCall("CallSequence#%d getPluginType", mId);
        return kPLUGIN_NAME;
    }

    AsciiChar const* getPluginVersion() const noexcept override
    {
        logCall("CallSequence#%d getPluginVersion", mId);
        return kPLUGIN_VERSION;
    }

    int32_t getNbOutputs() const noexcept override
    {
        logCall("CallSequence#%d getNbOutputs", mId);
        return 1;
    }

    int32_t initialize() noexcept override
    {
        logCall("CallSequence#%d initialize", mId);
        return 0;
    }

    void terminate() noexcept override
    {
        logCall("CallSequence#%d terminate", mId);
    }

    size_t getSerializationSize() const noexcept override
    {
        logCall("CallSequence#%d getSerializationSize", mId);
        return serializedSize(mScalar);
    }

    void serialize(void* buffer) const noexcept override
    {
        logCall("CallSequence#%d serialize", mId);
        BufferWriter writer(buffer, serializedSize(mScalar));
        writer.write(mScalar);
    }

    void destroy() noexcept override
    {
        logCall("CallSequence#%d destroy", mId);
        delete this;
    }

    void setPluginNamespace(AsciiChar const* pluginNamespace) noexcept override
    {
        logCall("CallSequence#%d setPluginNamespace(\"%s\")", mId, pluginNamespace == nullptr ? "" : pluginNamespace);
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }

    AsciiChar const* getPluginNamespace() const noexcept override
    {
        logCall("CallSequence#%d getPluginNamespace", mId);
        return mNamespace.c_str();
    }

    DataType getOutputDataType(int32_t index, DataType const* inputTypes, int32_t /*nbInputs*/) const noexcept override
    {
        logCall("CallSequence#%d getOutputDataType(%d)", mId, index);
        return inputTypes[0];
    }

    void attachToContext(cudnnContext* /*cudnn*/, cublasContext* /*cublas*/, IGpuAllocator* /*allocator*/) noexcept override
    {
        logCall("CallSequence#%d attachToContext", mId);
    }

    void detachFromContext() noexcept override
    {
        logCall("CallSequence#%d detachFromContext", mId);
    }

    IPluginV2DynamicExt* clone() const noexcept override
    {
        auto* plugin = new CallSequencePlugin(mName, mScalar, "clone");
        plugin->mNamespace = mNamespace;
        logCall("CallSequence#%d clone -> CallSequence#%d", mId, plugin->mId);
        return plugin;
    }

    DimsExprs getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs, int32_t /*nbInputs*/,
                                  IExprBuilder& /*exprBuilder*/) noexcept override
    {
        logCall("CallSequence#%d getOutputDimensions(%d)", mId, outputIndex);
        return inputs[0];
    }

    bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t /*nbInputs*/,
                                   int32_t /*nbOutputs*/) noexcept override
    {
        bool const ok = inOut[pos].format == TensorFormat::kLINEAR
            && (pos == 0 ? inOut[0].type == DataType::kFLOAT : inOut[pos].type == inOut[0].type);
        logCall("CallSequence#%d supportsFormatCombination(pos=%d, %s, format %d) -> %d", mId, pos,
                typeName(inOut[pos].type), static_cast<int>(inOut[pos].format), int(ok));
        return ok;
    }

    void configurePlugin(DynamicPluginTensorDesc const* in, int32_t /*nbInputs*/, DynamicPluginTensorDesc const* /*out*/,
                         int32_t /*nbOutputs*/) noexcept override
    {
        logCall("CallSequence#%d configurePlugin(input %s, min %s, max %s)", mId, dimsString(in[0].desc.dims).c_str(),
                dimsString(in[0].min).c_str(), dimsString(in[0].max).c_str());
    }

    size_t getWorkspaceSize(PluginTensorDesc const* inputs, int32_t /*nbInputs*/, PluginTensorDesc const* /*outputs*/,
                            int32_t /*nbOutputs*/) const noexcept override
    {
        logCall("CallSequence#%d getWorkspaceSize(input %s)", mId, dimsString(inputs[0].dims).c_str());
        return 0;
    }

    int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/, void const* const* inputs,
                    void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override
    {
        logCall("CallSequence#%d enqueue(input %s)", mId, dimsString(inputDesc[0].dims).c_str());
        int64_t const nElement = volume(inputDesc[0].dims);
        if (nElement > 0)
        {
            auto const nBlock = static_cast<uint32_t>((nElement + 255) / 256);
            addScalarKernel<<<nBlock, 256, 0, stream>>>(static_cast<float const*>(inputs[0]),
                                                        static_cast<float*>(outputs[0]), mScalar, nElement);
            CHECK_RETURN(cudaGetLastError(), 1);
        }
        return 0;
    }

private:
    std::string mName;
    std::string mNamespace;
    float mScalar;
    int32_t mId;
};

class CallSequencePluginCreator : public IPluginCreator
{
public:
    CallSequencePluginCreator()
    {
        logCall("Creator constructor (REGISTER_TENSORRT_PLUGIN, at library load)");
        mFields.emplace_back("scalar", nullptr, PluginFieldType::kFLOAT32, 1);
        mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
        mFieldCollection.fields = mFields.data();
    }

    AsciiChar const* getPluginName() const noexcept override
    {
        logCall("Creator getPluginName");
        return kPLUGIN_NAME;
    }

    AsciiChar const* getPluginVersion() const noexcept override
    {
        logCall("Creator getPluginVersion");
        return kPLUGIN_VERSION;
    }

    PluginFieldCollection const* getFieldNames() noexcept override
    {
        logCall("Creator getFieldNames");
        return &mFieldCollection;
    }

    IPluginV2* createPlugin(AsciiChar const* name, PluginFieldCollection const* fc) noexcept override
    {
        logCall("Creator createPlugin(\"%s\")", name);
        float scalar = 0.F;
        if (!readPluginField(fc, "scalar", PluginFieldType::kFLOAT32, &scalar))
        {
            pluginError(kPLUGIN_NAME, "createPlugin needs the field \"scalar\" (FLOAT32, length 1)");
            return nullptr;
        }
        auto* plugin = new CallSequencePlugin(name, scalar, "createPlugin");
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }

    IPluginV2* deserializePlugin(AsciiChar const* name, void const* serialData, size_t serialLength) noexcept override
    {
        logCall("Creator deserializePlugin(\"%s\", %zu bytes)", name, serialLength);
        auto* plugin = new CallSequencePlugin(name, serialData, serialLength);
        plugin->setPluginNamespace(mNamespace.c_str());
        return plugin;
    }

    void setPluginNamespace(AsciiChar const* pluginNamespace) noexcept override
    {
        logCall("Creator setPluginNamespace(\"%s\")", pluginNamespace == nullptr ? "" : pluginNamespace);
        mNamespace = pluginNamespace == nullptr ? "" : pluginNamespace;
    }

    AsciiChar const* getPluginNamespace() const noexcept override
    {
        logCall("Creator getPluginNamespace");
        return mNamespace.c_str();
    }

private:
    std::string mNamespace;
    std::vector<PluginField> mFields;
    PluginFieldCollection mFieldCollection{0, nullptr};
};

REGISTER_TENSORRT_PLUGIN(CallSequencePluginCreator);

} // namespace cookbook
