// 05-Plugin/LinkVsLoad: three ways for a C++ application to get a plugin into TensorRT's registry, each followed by
// the same build and run (x [2, 3, 4] -> ScaledTanh(alpha 1.5) -> y):
//   ./main_linked.exe linked      ScaledTanhPlugin.cu is compiled into this executable: its REGISTER_TENSORRT_PLUGIN
//                                 object registered the creator before main() started
//   ./main.exe dlopen             dlopen("./ScaledTanhPlugin.so"): the library's REGISTER_TENSORRT_PLUGIN object
//                                 registers the creator while dlopen runs (what Python's ctypes.CDLL does)
//   ./main.exe loadLibrary        getPluginRegistry()->loadLibrary("./ScaledTanhPluginLibrary.so") (TensorRT 8.6): the
//                                 library exports getPluginCreators() and TensorRT registers what it returns
// main.exe has no plugin code: before loading, the registry has no ScaledTanh. Each mode checks y against the host
// computation alpha * tanh(x) and saves it as main.<mode>.output/y.npy, which the tests compare with
// main.reference.npz (main.py's reference()).
#include "cookbookHelper.cuh"

#include <NvInfer.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <memory>

using namespace nvinfer1;

static char const* const kPluginName = "ScaledTanh";
static float const kAlpha = 1.5F;
static int32_t const kShape[3] = {2, 3, 4};

static IPluginCreator* findCreator()
{
    return getPluginRegistry()->getPluginCreator(kPluginName, "1", "");
}

// Makes the plugin known to the registry the way `mode` says; true when the creator is there afterwards.
static bool loadPlugin(std::string const& mode)
{
    std::cout << "before: " << kPluginName << " is " << (findCreator() != nullptr ? "registered" : "not registered")
              << std::endl;
    if (mode == "dlopen")
    {
        void* handle = dlopen("./ScaledTanhPlugin.so", RTLD_LAZY); // kept open: the creator lives in the library
        if (handle == nullptr)
        {
            std::cerr << "dlopen failed: " << dlerror() << std::endl;
            return false;
        }
    }
    else if (mode == "loadLibrary")
    {
        IPluginRegistry::PluginLibraryHandle handle = getPluginRegistry()->loadLibrary("./ScaledTanhPluginLibrary.so");
        if (handle == nullptr)
        {
            std::cerr << "loadLibrary returned nullptr" << std::endl;
            return false;
        }
    }
    else if (mode != "linked")
    {
        std::cerr << "unknown mode " << mode << " (linked, dlopen, loadLibrary)" << std::endl;
        return false;
    }
    bool const found = findCreator() != nullptr;
    std::cout << "after " << mode << ": " << kPluginName << " is " << (found ? "registered" : "not registered")
              << std::endl;
    return found;
}

static std::vector<char> buildPlan(cookbook::Logger& logger)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    ITensor* x = network->addInput("x", DataType::kFLOAT, Dims3{kShape[0], kShape[1], kShape[2]});
    PluginField const field("alpha", &kAlpha, PluginFieldType::kFLOAT32, 1);
    PluginFieldCollection const fields{1, &field};
    IPluginV2* plugin = findCreator()->createPlugin("scaledTanh", &fields);
    if (plugin == nullptr)
    {
        return {};
    }
    IPluginV2Layer* layer = network->addPluginV2(&x, 1, *plugin);
    layer->getOutput(0)->setName("y");
    network->markOutput(*layer->getOutput(0));
    std::unique_ptr<IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
    network.reset();    // the network refers to the plugin: destroy it first,
    plugin->destroy();  // then the plugin object createPlugin made
    if (plan == nullptr)
    {
        return {};
    }
    auto const* bytes = static_cast<char const*>(plan->data());
    return std::vector<char>(bytes, bytes + plan->size());
}

int main(int argc, char** argv)
{
    std::string const mode = argc > 1 ? argv[1] : "linked";
    std::cout << "=== mode " << mode << std::endl;
    if (!loadPlugin(mode))
    {
        return 1;
    }
    cookbook::Logger logger(ILogger::Severity::kERROR);
    std::vector<char> const plan = buildPlan(logger);
    if (plan.empty())
    {
        std::cerr << "buildSerializedNetwork failed" << std::endl;
        return 1;
    }
    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    std::unique_ptr<ICudaEngine> engine(runtime->deserializeCudaEngine(plan.data(), plan.size()));
    if (engine == nullptr)
    {
        std::cerr << "deserializeCudaEngine failed" << std::endl;
        return 1;
    }
    std::unique_ptr<IExecutionContext> context(engine->createExecutionContext());

    int64_t const n = static_cast<int64_t>(kShape[0]) * kShape[1] * kShape[2];
    std::vector<float> x(n), y(n);
    for (int64_t i = 0; i < n; ++i)
    {
        x[i] = static_cast<float>(i - 12) * 0.25F; // main.py's make_inputs(): exact in binary
    }
    void *xDevice = nullptr, *yDevice = nullptr;
    cudaStream_t stream = nullptr;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaMalloc(&xDevice, n * sizeof(float)));
    CHECK(cudaMalloc(&yDevice, n * sizeof(float)));
    CHECK(cudaMemcpyAsync(xDevice, x.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream));
    context->setTensorAddress("x", xDevice);
    context->setTensorAddress("y", yDevice);
    if (!context->enqueueV3(stream))
    {
        std::cerr << "enqueueV3 failed" << std::endl;
        return 1;
    }
    CHECK(cudaMemcpyAsync(y.data(), yDevice, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    CHECK(cudaFree(xDevice));
    CHECK(cudaFree(yDevice));
    CHECK(cudaStreamDestroy(stream));

    cookbook::printArray(y.data(), Dims3{kShape[0], kShape[1], kShape[2]}, "y");
    double maxError = 0.0;
    for (int64_t i = 0; i < n; ++i)
    {
        maxError = std::max(maxError, std::abs(static_cast<double>(y[i]) - kAlpha * std::tanh(static_cast<double>(x[i]))));
    }
    bool const passed = maxError <= 1e-5;
    std::cout << "check result: " << (passed ? "True" : "False") << ", y: max abs error = " << maxError << std::endl;
    std::string const folder = "main." + mode + ".output";
    if (!cookbook::saveNpy(folder + "/y.npy", y.data(), {kShape[0], kShape[1], kShape[2]}))
    {
        std::cerr << "could not write " << folder << "/y.npy" << std::endl;
        return 1;
    }
    return passed ? 0 : 1;
}
