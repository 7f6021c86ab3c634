// 03-BuildEngineByTensorRTAPI/DigitsCNN in C++: main.py with the C++ API. The trained CNN of train.py is rebuilt
// layer by layer from digits_cnn.npz (read with include/npz.h): Conv -> ReLU -> MaxPool twice, Flatten, two Linear
// layers as Constant + MatrixMultiply + ElementWise. The batch dimension is dynamic, with an optimization profile
// of 1..64 images (opt 32). Four builds: FP32 (TF32 cleared), FP16, and INT8 twice with an IInt8EntropyCalibrator2
// over the training images (the first calibrates and writes main-cpp.cache, the second reads it and must not ask
// for a batch). Each engine runs the 360 test images in batches of up to 64; the engine inspector tells which
// format each convolution reads. The images come from `python3 digits.py digits_data.npz` (command.sh), torch's
// logits and accuracy from main.reference.npz (what main.py's reference() computes). It prints main.py's table and
// checks, and saves main.py's outputs as main.cpp.output/*.npy, which the tests compare with main.reference.npz.
#include "cookbookHelper.cuh"
#include "npz.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <memory>

using namespace nvinfer1;

static char const* const kInputName = "inputT0";
static char const* const kOutputName = "logits";
static char const* const kWeightsFile = "digits_cnn.npz";      // train.py's weights, under torch's names
static char const* const kDataFile = "digits_data.npz";        // python3 digits.py digits_data.npz
static char const* const kReferenceFile = "main.reference.npz"; // torch's logits and accuracy (main.py)
static char const* const kCacheFile = "main-cpp.cache";
static int const kSize = 28, kClasses = 10;
static int const kBatchMin = 1, kBatchOpt = 32, kBatchMax = 64; // calibration batches have kBatchOpt images
static size_t const kImageElements = static_cast<size_t>(kSize) * kSize;
static char const* const kConvNames[2] = {"Conv1", "Conv2"};

enum class Precision
{
    kFP32,
    kFP16,
    kINT8
};

// The calibrator: hands over the training images in batches of kBatchOpt (the last incomplete batch is left out),
// and reads / writes the calibration cache.
class EntropyCalibrator : public IInt8EntropyCalibrator2
{
public:
    EntropyCalibrator(npz::Array const& images, std::string cacheFile)
        : mImages(images.values<float>())
        , mCount(static_cast<int>(images.shape.at(0)))
        , mCacheFile(std::move(cacheFile))
    {
        CHECK(cudaMalloc(&mDeviceInput, kBatchOpt * kImageElements * sizeof(float)));
    }

    ~EntropyCalibrator() override
    {
        CHECK(cudaFree(mDeviceInput));
    }

    int32_t getBatchSize() const noexcept override
    {
        return kBatchOpt;
    }

    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override
    {
        ++mGetBatchCalls;
        int const start = mNextBatch * kBatchOpt;
        if (start + kBatchOpt > mCount || nbBindings != 1)
        {
            return false; // no more data: calibration ends
        }
        CHECK(cudaMemcpy(mDeviceInput, mImages.data() + start * kImageElements,
            kBatchOpt * kImageElements * sizeof(float), cudaMemcpyHostToDevice));
        bindings[0] = mDeviceInput; // names[0] is the input's name
        ++mNextBatch;
        return true;
    }

    void const* readCalibrationCache(std::size_t& length) noexcept override
    {
        mCache = cookbook::loadFile(mCacheFile);
        length = mCache.size();
        if (mCache.empty())
        {
            std::cout << "  readCalibrationCache: no " << mCacheFile << ", returning nullptr: TensorRT calibrates"
                      << std::endl;
            return nullptr;
        }
        mCacheBytesRead = mCache.size();
        std::cout << "  readCalibrationCache: " << length << " bytes from " << mCacheFile
                  << ": calibration is skipped" << std::endl;
        return mCache.data();
    }

    void writeCalibrationCache(void const* cache, std::size_t length) noexcept override
    {
        cookbook::saveFile(mCacheFile, cache, length);
        std::cout << "  writeCalibrationCache: " << length << " bytes to " << mCacheFile << std::endl;
    }

    int mGetBatchCalls{0};
    size_t mCacheBytesRead{0};

private:
    std::vector<float> mImages;
    int mCount;
    std::string mCacheFile;
    std::vector<char> mCache; // must stay valid while TensorRT reads it
    void* mDeviceInput{nullptr};
    int mNextBatch{0};
};

static Weights weightsOf(npz::Array const& array) // the npz::File must stay alive until the build ends
{
    return Weights{DataType::kFLOAT, array.data<float>(), array.size()};
}

// train.py's DigitsCNN from its state_dict arrays: [N,1,28,28] -> logits [N,10], N = batch (-1: dynamic)
static void addNetwork(INetworkDefinition& network, npz::File const& w, int32_t batch)
{
    ITensor* x = network.addInput(kInputName, DataType::kFLOAT, Dims4{batch, 1, kSize, kSize});
    for (int i = 1; i <= 2; ++i) // Conv2d(5x5, padding 2) + ReLU + MaxPool2d(2), twice
    {
        std::string const index = std::to_string(i);
        npz::Array const& kernel = w.at("conv" + index + ".weight"); // [out, in, 5, 5]
        IConvolutionLayer* conv = network.addConvolutionNd(*x, static_cast<int32_t>(kernel.shape.at(0)), DimsHW{5, 5},
            weightsOf(kernel), weightsOf(w.at("conv" + index + ".bias")));
        conv->setPaddingNd(DimsHW{2, 2});
        conv->setName(kConvNames[i - 1]);
        IActivationLayer* relu = network.addActivation(*conv->getOutput(0), ActivationType::kRELU);
        relu->setName(("ReLU" + index).c_str());
        IPoolingLayer* pool = network.addPoolingNd(*relu->getOutput(0), PoolingType::kMAX, DimsHW{2, 2});
        pool->setStrideNd(DimsHW{2, 2});
        pool->setName(("MaxPool" + index).c_str());
        x = pool->getOutput(0);
    }
    IShuffleLayer* flatten = network.addShuffle(*x); // torch.flatten(x, 1): [N,32,7,7] -> [N,1568]
    flatten->setReshapeDimensions(Dims2{0, -1});     // 0: copy the (dynamic) batch dimension; -1: what remains
    flatten->setName("Flatten");
    x = flatten->getOutput(0);
    for (int i = 1; i <= 2; ++i) // Linear: x W^T + b, with W [out, in] as torch stores it
    {
        std::string const index = std::to_string(i);
        npz::Array const& weight = w.at("fc" + index + ".weight");
        npz::Array const& bias = w.at("fc" + index + ".bias");
        Dims2 const matrixShape{static_cast<int32_t>(weight.shape.at(0)), static_cast<int32_t>(weight.shape.at(1))};
        IConstantLayer* matrix = network.addConstant(matrixShape, weightsOf(weight));
        IMatrixMultiplyLayer* product = network.addMatrixMultiply(
            *x, MatrixOperation::kNONE, *matrix->getOutput(0), MatrixOperation::kTRANSPOSE);
        product->setName(("FC" + index).c_str());
        IConstantLayer* row = network.addConstant(Dims2{1, static_cast<int32_t>(bias.shape.at(0))}, weightsOf(bias));
        IElementWiseLayer* add
            = network.addElementWise(*product->getOutput(0), *row->getOutput(0), ElementWiseOperation::kSUM);
        add->setName(("FC" + index + ".bias").c_str());
        x = add->getOutput(0);
        if (i == 1)
        {
            IActivationLayer* relu = network.addActivation(*x, ActivationType::kRELU);
            relu->setName("ReLU3");
            x = relu->getOutput(0);
        }
    }
    x->setName(kOutputName);
    network.markOutput(*x);
}

// batch -1: a dynamic batch of kBatchMin..kBatchMax images (a profile); a number: that fixed batch, no profile
static std::vector<char> buildSerializedEngine(
    cookbook::Logger& logger, npz::File const& w, Precision precision, IInt8Calibrator* calibrator, int32_t batch = -1)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    config->clearFlag(BuilderFlag::kTF32); // FP32 layers compute in FP32 (TF32 is on by default on Ampere and newer)
    config->setProfilingVerbosity(ProfilingVerbosity::kDETAILED); // the inspector then shows each layer's formats
    if (batch == -1)
    {
        IOptimizationProfile* profile = builder->createOptimizationProfile();
        profile->setDimensions(kInputName, OptProfileSelector::kMIN, Dims4{kBatchMin, 1, kSize, kSize});
        profile->setDimensions(kInputName, OptProfileSelector::kOPT, Dims4{kBatchOpt, 1, kSize, kSize});
        profile->setDimensions(kInputName, OptProfileSelector::kMAX, Dims4{kBatchMax, 1, kSize, kSize});
        config->addOptimizationProfile(profile);
    }
    if (precision == Precision::kFP16)
    {
        config->setFlag(BuilderFlag::kFP16); // allows FP16 kernels: the builder picks them where they are faster
    }
    if (precision == Precision::kINT8)
    {
        config->setFlag(BuilderFlag::kINT8);   // allows INT8 kernels, with scales from the calibrator
        config->setInt8Calibrator(calibrator); // the builder runs the FP32 network on its batches
        if (batch == -1)
        {
            IOptimizationProfile* calibration = builder->createOptimizationProfile(); // the calibration batches' shape
            calibration->setDimensions(kInputName, OptProfileSelector::kMIN, Dims4{kBatchOpt, 1, kSize, kSize});
            calibration->setDimensions(kInputName, OptProfileSelector::kOPT, Dims4{kBatchOpt, 1, kSize, kSize});
            calibration->setDimensions(kInputName, OptProfileSelector::kMAX, Dims4{kBatchOpt, 1, kSize, kSize});
            config->setCalibrationProfile(calibration);
        }
    }
    addNetwork(*network, w, batch);

    // main.py's PRECISION_NOTE: ask for FP16 / INT8 convolutions, or the builder may time FP32 faster
    if (precision != Precision::kFP32)
    {
        config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
        for (int32_t i = 0; i < network->getNbLayers(); ++i)
        {
            ILayer* layer = network->getLayer(i);
            if (layer->getType() == LayerType::kCONVOLUTION)
            {
                layer->setPrecision(precision == Precision::kFP16 ? DataType::kHALF : DataType::kINT8);
            }
        }
    }

    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (!serialized || serialized->size() == 0)
    {
        return {};
    }
    char const* bytes = static_cast<char const*>(serialized->data());
    return std::vector<char>(bytes, bytes + serialized->size());
}

// The string value of the first "key" at or after `from` in a JSON text ("" if there is none): enough for the
// flat fields of the inspector's layer information, without a JSON library (as in 02-API/INT8-PTQ/main.cpp).
static std::string jsonString(std::string const& json, std::string const& key, size_t from = 0)
{
    size_t const k = json.find("\"" + key + "\"", from);
    if (k == std::string::npos)
        return "";
    size_t i = k + key.size() + 2;
    while (i < json.size() && std::isspace(static_cast<unsigned char>(json[i])))
        ++i;
    if (i >= json.size() || json[i] != ':')
        return "";
    ++i;
    while (i < json.size() && std::isspace(static_cast<unsigned char>(json[i])))
        ++i;
    if (i >= json.size() || json[i] != '"')
        return "";
    size_t const close = json.find('"', i + 1);
    return close == std::string::npos ? "" : json.substr(i + 1, close - i - 1);
}

// True when `word` occurs in `text` between non-alphanumeric characters: "Conv1" in "Conv1 + ReLU1"
static bool containsWord(std::string const& text, std::string const& word)
{
    for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
    {
        bool const startOk = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
        size_t const end = at + word.size();
        bool const endOk = end == text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
        if (startOk && endOk)
            return true;
    }
    return false;
}

// {network convolution name: the Format/Datatype its engine layer reads} ("?" when the engine has none), from the
// engine inspector of an engine with static shapes (calibrator.py's convolution_formats): with a dynamic batch,
// TensorRT 8.6.0 reports every format as "N/A due to dynamic shapes" (seen on an H200).
static std::map<std::string, std::string> convolutionFormats(ICudaEngine& engine)
{
    std::unique_ptr<IEngineInspector> inspector(engine.createEngineInspector());
    std::map<std::string, std::string> formats{{kConvNames[0], "?"}, {kConvNames[1], "?"}};
    for (int32_t i = 0; i < engine.getNbLayers(); ++i)
    {
        std::string const info = inspector->getLayerInformation(i, LayerInformationFormat::kJSON);
        std::string const name = jsonString(info, "Name"), type = jsonString(info, "LayerType");
        size_t const inputs = info.find("\"Inputs\"");
        std::string const format = inputs == std::string::npos ? "" : jsonString(info, "Format/Datatype", inputs);
        std::cout << "    " << name.substr(0, 40) << " | " << type << " | input " << format << std::endl;
        if (jsonString(info, "ParameterType") != "Convolution" && type.find("Convolution") == std::string::npos)
            continue; // e.g. "Reformatting CopyNode for Input Tensor 0 to Conv1 + ReLU1"
        for (auto& [conv, read] : formats)
        {
            if (read == "?" && !format.empty() && containsWord(name, conv))
                read = format;
        }
    }
    return formats;
}

static std::string lower(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

struct Result
{
    std::vector<float> logits; // [360, 10]
    float accuracy{0.0F};
    std::map<std::string, std::string> formats;
};

// The test set in batches of up to kBatchMax images (5 x 64, then 40).
static bool runTestSet(ICudaEngine& engine, std::vector<float> const& images, std::vector<int32_t> const& labels,
    Result& result)
{
    int const n = static_cast<int>(labels.size());
    std::unique_ptr<IExecutionContext> context(engine.createExecutionContext());
    if (!context || !context->setInputShape(kInputName, Dims4{kBatchOpt, 1, kSize, kSize}))
    {
        std::cerr << "createExecutionContext or setInputShape failed" << std::endl;
        return false;
    }
    result.logits.assign(static_cast<size_t>(n) * kClasses, 0.0F);
    void *inputDevice = nullptr, *outputDevice = nullptr;
    CHECK(cudaMalloc(&inputDevice, kBatchMax * kImageElements * sizeof(float)));
    CHECK(cudaMalloc(&outputDevice, kBatchMax * kClasses * sizeof(float)));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    bool ok = context->setTensorAddress(kInputName, inputDevice)
        && context->setTensorAddress(kOutputName, outputDevice);
    for (int start = 0; ok && start < n; start += kBatchMax)
    {
        int const count = std::min(kBatchMax, n - start);
        ok = context->setInputShape(kInputName, Dims4{count, 1, kSize, kSize});
        Dims const outputShape = context->getTensorShape(kOutputName);
        ok = ok && outputShape.nbDims == 2 && outputShape.d[0] == count && outputShape.d[1] == kClasses;
        if (!ok)
        {
            std::cerr << "batch of " << count << ": setInputShape failed or the output shape is "
                      << cookbook::shapeString(outputShape) << std::endl;
            break;
        }
        CHECK(cudaMemcpyAsync(inputDevice, images.data() + start * kImageElements,
            count * kImageElements * sizeof(float), cudaMemcpyHostToDevice, stream));
        ok = context->enqueueV3(stream);
        CHECK(cudaMemcpyAsync(result.logits.data() + static_cast<size_t>(start) * kClasses, outputDevice,
            count * kClasses * sizeof(float), cudaMemcpyDeviceToHost, stream));
        CHECK(cudaStreamSynchronize(stream));
    }
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(inputDevice));
    CHECK(cudaFree(outputDevice));
    int correct = 0;
    for (int i = 0; i < n; ++i)
    {
        float const* row = result.logits.data() + static_cast<size_t>(i) * kClasses;
        correct += static_cast<int>(std::max_element(row, row + kClasses) - row) == labels[i];
    }
    result.accuracy = static_cast<float>(static_cast<double>(correct) / n);
    return ok;
}

static double maxAbsError(std::vector<float> const& got, std::vector<float> const& want)
{
    double error = 0.0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        error = std::max(error, std::fabs(static_cast<double>(got[i]) - want[i]));
    return error;
}

// |got - want| <= atol + rtol |want| for every element (numpy's isclose), printed as main.py's run block does.
static bool checkClose(std::string const& name, std::vector<float> const& got, std::vector<float> const& want,
    double rtol, double atol)
{
    bool ok = got.size() == want.size();
    for (size_t i = 0; ok && i < got.size(); ++i)
        ok = std::fabs(static_cast<double>(got[i]) - want[i]) <= atol + rtol * std::fabs(static_cast<double>(want[i]));
    std::cout << "check result: " << (ok ? "True" : "False") << ", " << name << ": max abs error = " << std::scientific
              << std::setprecision(3) << maxAbsError(got, want) << std::defaultfloat << " (rtol=" << rtol
              << ", atol=" << atol << ")" << std::endl;
    return ok;
}

static bool checkFact(std::string const& name, bool fact)
{
    std::cout << "check result: " << (fact ? "True" : "False") << ", " << name << std::endl;
    return fact;
}

int main()
{
    CHECK(cudaSetDevice(0));
    cookbook::Logger logger(ILogger::Severity::kERROR);
    npz::File weights, data, reference; // weights: alive until every build is done
    try
    {
        weights = npz::load(kWeightsFile);
        data = npz::load(kDataFile);
        reference = npz::load(kReferenceFile);
    }
    catch (npz::Error const& error)
    {
        std::cerr << error.what() << " (command.sh writes " << kDataFile << " with python3 digits.py)" << std::endl;
        return 1;
    }
    std::vector<float> const images = data.at("test_images").values<float>();
    std::vector<int32_t> const labels = data.at("test_labels").values<int32_t>();
    std::vector<float> const torchLogits = reference.at("logits_fp32").values<float>();
    float const torchAccuracy = reference.at("accuracy_fp32").values<float>().at(0);
    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    auto deserialize = [&](std::vector<char> const& plan) {
        return std::unique_ptr<ICudaEngine>(
            plan.empty() ? nullptr : runtime->deserializeCudaEngine(plan.data(), plan.size()));
    };

    std::map<Precision, std::unique_ptr<ICudaEngine>> engines;
    engines[Precision::kFP32] = deserialize(buildSerializedEngine(logger, weights, Precision::kFP32, nullptr));
    engines[Precision::kFP16] = deserialize(buildSerializedEngine(logger, weights, Precision::kFP16, nullptr));
    std::remove(kCacheFile); // start without a cache: the first INT8 build must calibrate
    bool cacheReused = true;
    for (int attempt = 0; attempt < 2; ++attempt)
    {
        std::cout << "=== INT8 build, IInt8EntropyCalibrator2: "
                  << (attempt == 0 ? "calibrate, write the cache" : "read the cache") << std::endl;
        EntropyCalibrator calibrator(data.at("train_images"), kCacheFile); // fresh: only the cache file is kept
        engines[Precision::kINT8] = deserialize(buildSerializedEngine(logger, weights, Precision::kINT8, &calibrator));
        std::cout << "  getBatch was called " << calibrator.mGetBatchCalls << " times; readCalibrationCache returned "
                  << calibrator.mCacheBytesRead << " bytes" << std::endl;
        cacheReused = cacheReused
            && (attempt == 0 ? calibrator.mGetBatchCalls > 0
                             : calibrator.mCacheBytesRead > 0 && calibrator.mGetBatchCalls == 0);
    }

    char const* const names[3] = {"FP32", "FP16", "INT8"};
    std::map<Precision, Result> results;
    for (auto& [precision, engine] : engines)
    {
        // The inspector needs static shapes (see convolutionFormats): the same build with a fixed batch of kBatchOpt,
        // the shape whose kernels the dynamic engine chose (INT8: scales from the cache, no calibration).
        std::cout << "=== " << names[static_cast<int>(precision)] << ": the same build with a fixed batch of "
                  << kBatchOpt << ", its layers (engine inspector)" << std::endl;
        std::unique_ptr<EntropyCalibrator> cacheReader; // INT8 only: it reads the cache
        if (precision == Precision::kINT8)
            cacheReader = std::make_unique<EntropyCalibrator>(data.at("train_images"), kCacheFile);
        std::unique_ptr<ICudaEngine> fixed
            = deserialize(buildSerializedEngine(logger, weights, precision, cacheReader.get(), kBatchOpt));
        if (!engine || !fixed || !runTestSet(*engine, images, labels, results[precision]))
        {
            std::cerr << "building or running the " << names[static_cast<int>(precision)] << " engine failed"
                      << std::endl;
            return 1;
        }
        results[precision].formats = convolutionFormats(*fixed);
    }

    std::cout << "\nprecision    max |logit - torch logit|  accuracy  convolutions read" << std::endl;
    std::printf("%-12s %26s %9.4f\n", "torch (CPU)", "-", torchAccuracy);
    for (auto const& [precision, result] : results)
    {
        std::printf("%-12s %26.3e %9.4f  ", names[static_cast<int>(precision)], maxAbsError(result.logits, torchLogits),
            result.accuracy);
        for (auto const& [conv, format] : result.formats)
            std::cout << conv << ": " << format << (conv == kConvNames[1] ? "" : ", ");
        std::cout << std::endl;
    }

    auto reads = [&](Precision precision, std::string const& type, bool every) {
        bool any = false, all = true;
        for (auto const& [conv, format] : results[precision].formats)
        {
            bool const found = lower(format).find(type) != std::string::npos;
            any = any || found;
            all = all && found;
        }
        return every ? all : any;
    };
    std::vector<float> const fp32Accuracy{results[Precision::kFP32].accuracy};
    std::vector<float> const fp16Accuracy{results[Precision::kFP16].accuracy};
    std::vector<float> const int8Accuracy{results[Precision::kINT8].accuracy};
    std::vector<float> const expectedAccuracy{torchAccuracy};
    bool const fp32Convolutions = reads(Precision::kFP32, "fp32", true);
    bool const fp16Convolution = reads(Precision::kFP16, "fp16", false);
    bool const int8Convolution = reads(Precision::kINT8, "int8", false);
    bool passed = checkClose("logits_fp32", results[Precision::kFP32].logits, torchLogits, 1e-4, 1e-4);
    passed = checkClose("logits_fp16", results[Precision::kFP16].logits, torchLogits, 1e-2, 0.1) && passed;
    passed = checkClose("accuracy_fp32", fp32Accuracy, expectedAccuracy, 0.0, 0.003) && passed;
    passed = checkClose("accuracy_fp16", fp16Accuracy, expectedAccuracy, 0.0, 0.005) && passed;
    passed = checkClose("accuracy_int8", int8Accuracy, expectedAccuracy, 0.0, 0.01) && passed;
    passed = checkFact("fp32_convolutions: every convolution of the FP32 engine reads FP32", fp32Convolutions)
        && passed;
    passed = checkFact("fp16_convolution: a convolution of the FP16 engine reads FP16", fp16Convolution) && passed;
    passed = checkFact("int8_convolution: a convolution of the INT8 engine reads INT8", int8Convolution) && passed;
    passed = checkFact("cache_reused: the first INT8 build calibrated, the second read the cache", cacheReused)
        && passed;

    std::string const folder = "main.cpp.output/";
    std::vector<int64_t> const logitsShape{static_cast<int64_t>(labels.size()), kClasses};
    bool const saved
        = cookbook::saveNpy(folder + "logits_fp32.npy", results[Precision::kFP32].logits.data(), logitsShape)
        && cookbook::saveNpy(folder + "logits_fp16.npy", results[Precision::kFP16].logits.data(), logitsShape)
        && cookbook::saveNpy(folder + "accuracy_fp32.npy", fp32Accuracy.data(), {})
        && cookbook::saveNpy(folder + "accuracy_fp16.npy", fp16Accuracy.data(), {})
        && cookbook::saveNpy(folder + "accuracy_int8.npy", int8Accuracy.data(), {})
        && cookbook::saveNpy(folder + "fp32_convolutions.npy", &fp32Convolutions, {})
        && cookbook::saveNpy(folder + "fp16_convolution.npy", &fp16Convolution, {})
        && cookbook::saveNpy(folder + "int8_convolution.npy", &int8Convolution, {})
        && cookbook::saveNpy(folder + "cache_reused.npy", &cacheReused, {});
    if (!saved)
    {
        std::cerr << "could not write " << folder << std::endl;
        passed = false;
    }
    return passed ? 0 : 1;
}
