// 05-Plugin/AddScalar in C++: main.py with the C++ API. It loads AddScalarPlugin.so with dlopen (which runs
// REGISTER_TENSORRT_PLUGIN), finds the creator in getPluginRegistry() by name, version and namespace, creates the
// plugin from a PluginFieldCollection, adds it with addPluginV2 to a network with a dynamic input (-1, -1, 4, 5) and
// an optimization profile, builds, runs at (2, 3, 4, 5), serializes the engine to main-cpp.plan, deserializes it
// and runs it at (1, 3, 4, 5). Both results are checked against input + scalar and saved as main.cpp.output/*.npy,
// which the tests compare with main.reference.npz (what main.py's reference() computes).
#include "cookbookHelper.cuh"

#include <NvInfer.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <vector>

using namespace nvinfer1;

static char const* const kPluginLibrary = "./AddScalarPlugin.so";
static char const* const kPlanFile = "main-cpp.plan";
static float const kScalar = 1.25F;
static Dims4 const kShape{2, 3, 4, 5}, kMinShape{1, 1, 4, 5}, kMaxShape{4, 6, 4, 5};

// Runs the engine once on `input` (shape `shape`), returns the output.
static std::vector<float> run(ICudaEngine& engine, std::vector<float> const& input, Dims4 const& shape)
{
    std::unique_ptr<IExecutionContext> context(engine.createExecutionContext());
    context->setInputShape("inputT0", shape);
    size_t const bytes = input.size() * sizeof(float);
    std::vector<float> output(cookbook::volume(context->getTensorShape("outputT0")));
    void *dInput = nullptr, *dOutput = nullptr;
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaMalloc(&dInput, bytes));
    CHECK(cudaMalloc(&dOutput, output.size() * sizeof(float)));
    context->setTensorAddress("inputT0", dInput);
    context->setTensorAddress("outputT0", dOutput);
    CHECK(cudaMemcpyAsync(dInput, input.data(), bytes, cudaMemcpyHostToDevice, stream));
    if (!context->enqueueV3(stream))
    {
        std::cerr << "enqueueV3 failed" << std::endl;
        std::exit(1);
    }
    CHECK(cudaMemcpyAsync(output.data(), dOutput, output.size() * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    CHECK(cudaFree(dInput));
    CHECK(cudaFree(dOutput));
    CHECK(cudaStreamDestroy(stream));
    return output;
}

// Prints one check line like main.py's run block; the values are exact sums, compared within 1e-5.
static bool check(std::vector<float> const& output, std::vector<float> const& input, char const* name)
{
    double error = 0;
    for (size_t i = 0; i < output.size(); ++i)
    {
        error = std::max(error, std::fabs(double(output[i]) - double(input[i] + kScalar)));
    }
    bool const passed = output.size() == input.size() && error <= 1e-5;
    std::cout << "check result: " << (passed ? "True" : "False") << ", " << name << ": max abs error = " << error
              << std::endl;
    return passed;
}

int main()
{
    cookbook::Logger logger(ILogger::Severity::kERROR);
    if (dlopen(kPluginLibrary, RTLD_NOW | RTLD_GLOBAL) == nullptr)  // registers the creator
    {
        std::cerr << "dlopen(" << kPluginLibrary << ") failed: " << dlerror() << " (run make first)" << std::endl;
        return 1;
    }
    IPluginCreator* creator = getPluginRegistry()->getPluginCreator("AddScalar", "1", "");
    if (creator == nullptr)
    {
        std::cerr << "no creator AddScalar version 1 in the registry" << std::endl;
        return 1;
    }
    PluginField field("scalar", &kScalar, PluginFieldType::kFLOAT32, 1);
    PluginFieldCollection fields{1, &field};
    IPluginV2* plugin = creator->createPlugin("addScalar", &fields);
    if (plugin == nullptr)
    {
        std::cerr << "createPlugin failed" << std::endl;
        return 1;
    }

    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    ITensor* x = network->addInput("inputT0", DataType::kFLOAT, Dims4{-1, -1, 4, 5});
    IOptimizationProfile* profile = builder->createOptimizationProfile();
    profile->setDimensions("inputT0", OptProfileSelector::kMIN, kMinShape);
    profile->setDimensions("inputT0", OptProfileSelector::kOPT, kShape);
    profile->setDimensions("inputT0", OptProfileSelector::kMAX, kMaxShape);
    config->addOptimizationProfile(profile);
    IPluginV2Layer* layer = network->addPluginV2(&x, 1, *plugin);
    layer->setName("AddScalar");
    layer->getOutput(0)->setName("outputT0");
    network->markOutput(*layer->getOutput(0));
    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (serialized == nullptr)
    {
        std::cerr << "buildSerializedNetwork failed" << std::endl;
        return 1;
    }
    network.reset();  // `plugin` stays alive until the process ends: the network may refer to it until here

    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    std::unique_ptr<ICudaEngine> engine(runtime->deserializeCudaEngine(serialized->data(), serialized->size()));
    std::vector<float> input(cookbook::volume(kShape));
    for (size_t i = 0; i < input.size(); ++i)
    {
        input[i] = static_cast<float>(static_cast<int>(i % 23) - 11) * 0.5F;  // main.py's make_inputs()
    }
    std::vector<float> output = run(*engine, input, kShape);
    cookbook::printArray(output.data(), kShape, "outputT0");
    bool passed = check(output, input, "outputT0");
    cookbook::saveNpy("main.cpp.output/outputT0.npy", output.data(), {2, 3, 4, 5});

    std::unique_ptr<IHostMemory> plan(engine->serialize());
    cookbook::saveFile(kPlanFile, plan->data(), plan->size());
    engine.reset();
    std::vector<char> const bytes = cookbook::loadFile(kPlanFile);
    std::unique_ptr<ICudaEngine> reloaded(runtime->deserializeCudaEngine(bytes.data(), bytes.size()));
    if (reloaded == nullptr)
    {
        std::cerr << "deserializeCudaEngine(" << kPlanFile << ") failed" << std::endl;
        return 1;
    }
    Dims4 const small{1, 3, 4, 5};
    std::vector<float> const first(input.begin(), input.begin() + cookbook::volume(small));
    std::vector<float> again = run(*reloaded, first, small);
    passed = check(again, first, "outputT0_reloaded") && passed;
    cookbook::saveNpy("main.cpp.output/outputT0_reloaded.npy", again.data(), {1, 3, 4, 5});
    return passed ? 0 : 1;
}
