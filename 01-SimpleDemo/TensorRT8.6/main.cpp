// 01-SimpleDemo in C++: the same workflow and network as main.py (y = ReLU(x) * 2 on a dynamic [-1,-1,-1] input).
// Build time: Logger -> Builder -> Network -> OptimizationProfile -> BuilderConfig -> serialized engine -> model-cpp.plan
// Run time:   Runtime -> Engine -> ExecutionContext -> buffers -> enqueueV3 on a stream -> copy back -> check -> free
#include "cookbookHelper.cuh"

#include <cmath>
#include <memory>

using namespace nvinfer1;

static char const* const kPlanFile = "model-cpp.plan";
static char const* const kInputName = "inputT0";
static char const* const kOutputName = "outputT0";
static float const kTwo = 2.0f; // weights must stay alive until the engine is built

static std::vector<char> buildSerializedEngine(cookbook::Logger& logger)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    IOptimizationProfile* profile = builder->createOptimizationProfile(); // owned by the builder
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, 1U << 30);

    ITensor* input = network->addInput(kInputName, DataType::kFLOAT, Dims3{-1, -1, -1});
    profile->setDimensions(kInputName, OptProfileSelector::kMIN, Dims3{1, 1, 1});
    profile->setDimensions(kInputName, OptProfileSelector::kOPT, Dims3{3, 4, 5});
    profile->setDimensions(kInputName, OptProfileSelector::kMAX, Dims3{6, 8, 10});
    config->addOptimizationProfile(profile);

    IActivationLayer* relu = network->addActivation(*input, ActivationType::kRELU);
    relu->setName("ReLU");
    IConstantLayer* two = network->addConstant(Dims3{1, 1, 1}, Weights{DataType::kFLOAT, &kTwo, 1});
    two->setName("Two");
    IElementWiseLayer* timesTwo
        = network->addElementWise(*relu->getOutput(0), *two->getOutput(0), ElementWiseOperation::kPROD);
    timesTwo->setName("TimesTwo");
    timesTwo->getOutput(0)->setName(kOutputName);
    network->markOutput(*timesTwo->getOutput(0));

    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (!serialized || serialized->size() == 0)
    {
        std::cerr << "building the serialized engine failed (see the TensorRT log above)" << std::endl;
        return {};
    }
    cookbook::saveFile(kPlanFile, serialized->data(), serialized->size());
    std::cout << "Built the engine and saved it to " << kPlanFile << " (" << serialized->size() << " bytes)"
              << std::endl;
    char const* bytes = static_cast<char const*>(serialized->data());
    return std::vector<char>(bytes, bytes + serialized->size());
}

static ICudaEngine* loadOrBuildEngine(cookbook::Logger& logger, IRuntime& runtime)
{
    std::vector<char> plan = cookbook::loadFile(kPlanFile);
    if (!plan.empty())
    {
        if (ICudaEngine* engine = runtime.deserializeCudaEngine(plan.data(), plan.size()))
        {
            std::cout << "Loaded the engine from " << kPlanFile << std::endl;
            return engine;
        }
        std::cout << kPlanFile << " could not be deserialized: it was built by another TensorRT version or on "
                  << "another GPU, or the file is damaged. Building a new engine instead." << std::endl;
    }
    plan = buildSerializedEngine(logger);
    return plan.empty() ? nullptr : runtime.deserializeCudaEngine(plan.data(), plan.size());
}

int main()
{
    CHECK(cudaSetDevice(0));
    cookbook::Logger logger(ILogger::Severity::kERROR);
    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    std::unique_ptr<ICudaEngine> engine(loadOrBuildEngine(logger, *runtime));
    if (!engine)
    {
        std::cerr << "no engine" << std::endl;
        return 1;
    }
    std::unique_ptr<IExecutionContext> context(engine->createExecutionContext());

    Dims3 const inputShape{3, 4, 5};
    context->setInputShape(kInputName, inputShape); // required with dynamic shapes
    Dims const outputShape = context->getTensorShape(kOutputName);
    int64_t const nInput = cookbook::volume(inputShape);
    int64_t const nOutput = cookbook::volume(outputShape);
    for (int i = 0; i < engine->getNbIOTensors(); ++i)
    {
        char const* name = engine->getIOTensorName(i);
        std::cout << (engine->getTensorIOMode(name) == TensorIOMode::kINPUT ? "INPUT  " : "OUTPUT ") << name << ": "
                  << cookbook::shapeString(context->getTensorShape(name)) << std::endl;
    }

    std::vector<float> inputHost(nInput), outputHost(nOutput);
    for (int64_t i = 0; i < nInput; ++i)
    {
        inputHost[i] = static_cast<float>(i) - 30.0f; // the same input as main.py
    }
    float *inputDevice = nullptr, *outputDevice = nullptr;
    CHECK(cudaMalloc(&inputDevice, nInput * sizeof(float)));
    CHECK(cudaMalloc(&outputDevice, nOutput * sizeof(float)));
    context->setTensorAddress(kInputName, inputDevice);
    context->setTensorAddress(kOutputName, outputDevice);

    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaMemcpyAsync(inputDevice, inputHost.data(), nInput * sizeof(float), cudaMemcpyHostToDevice, stream));
    if (!context->enqueueV3(stream))
    {
        std::cerr << "enqueueV3 failed" << std::endl;
        return 1;
    }
    CHECK(cudaMemcpyAsync(outputHost.data(), outputDevice, nOutput * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));

    cookbook::printArray(inputHost.data(), inputShape, kInputName);
    cookbook::printArray(outputHost.data(), outputShape, kOutputName);

    double maxError = 0.0;
    bool passed = true;
    for (int64_t i = 0; i < nOutput; ++i)
    {
        double const expected = std::max(inputHost[i], 0.0f) * 2.0;
        double const error = std::fabs(outputHost[i] - expected);
        maxError = std::max(maxError, error);
        passed = passed && error <= 1e-5 + 1e-5 * std::fabs(expected);
    }
    std::cout << "check result: " << (passed ? "True" : "False") << ", max abs error = " << maxError << std::endl;
    std::vector<int64_t> shape(outputShape.d, outputShape.d + outputShape.nbDims);
    if (!cookbook::saveNpy("main.cpp.output/outputT0.npy", outputHost.data(), shape))
    {
        std::cerr << "could not write main.cpp.output/outputT0.npy" << std::endl;
        passed = false;
    }

    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(inputDevice));
    CHECK(cudaFree(outputDevice));
    return passed ? 0 : 1;
}
