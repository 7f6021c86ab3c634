// 02-API/INT8-PTQ in C++: an IInt8EntropyCalibrator2 with a calibration cache, on the network of main.py.
// Weights and images come from the same formulas as main.py (computed in double, rounded to float), so the
// C++ engine sees the same network and data. The program builds twice: the first build calibrates and writes
// main-cpp.cache, the second reads the cache and does not calibrate. It checks the INT8 output against a CPU
// FP32 reference with main.py's tolerance and saves it as main.cpp.output/outputT0.npy.
#include "cookbookHelper.cuh"

#include <algorithm>
#include <cmath>
#include <memory>

using namespace nvinfer1;

static char const* const kInputName = "inputT0";
static char const* const kOutputName = "outputT0";
static char const* const kCacheFile = "main-cpp.cache";
static int const kH = 8, kW = 8, kC1 = 8, kC2 = 16, kClasses = 10;
static int const kFlat = kC2 * (kH / 2) * (kW / 2);
static int const kNCalibration = 200, kCalibrationBatch = 50, kTestStart = 1000, kNTest = 8;
static double const kRtol = 0.1, kAtol = 0.15; // main.py's TOLERANCE (see its comment)

// image n, pixel (h, w): the formula of main.py's make_images()
static std::vector<float> makeImages(int start, int count)
{
    std::vector<float> images(static_cast<size_t>(count) * kH * kW);
    for (int i = 0; i < count; ++i)
    {
        double const n = start + i;
        for (int h = 0; h < kH; ++h)
        {
            for (int w = 0; w < kW; ++w)
            {
                double const v = std::sin(0.37 * n + 0.71 * h) * std::cos(0.29 * n + 0.53 * w)
                    + 0.25 * std::sin(0.11 * n + 0.13 * h * w);
                images[(static_cast<size_t>(i) * kH + h) * kW + w] = static_cast<float>(v);
            }
        }
    }
    return images;
}

// element k = scale * sin(a k^2 + b k + c): main.py's chirp()
static std::vector<float> chirp(size_t count, double scale, double a, double b, double c)
{
    std::vector<float> values(count);
    for (size_t i = 0; i < count; ++i)
    {
        double const k = static_cast<double>(i);
        values[i] = static_cast<float>(scale * std::sin(a * k * k + b * k + c));
    }
    return values;
}

struct NetworkWeights
{
    std::vector<float> conv1W = chirp(kC1 * 1 * 9, 0.6, 0.37, 1.1, 0.5);
    std::vector<float> conv1B = chirp(kC1, 0.05, 0.37, 0.7, 1.0);
    std::vector<float> conv2W = chirp(kC2 * kC1 * 9, 0.2, 0.37, 0.9, 0.2);
    std::vector<float> conv2B = chirp(kC2, 0.05, 0.37, 1.1, 2.0);
    std::vector<float> fcW = chirp(static_cast<size_t>(kFlat) * kClasses, 0.15, 0.37, 0.61, 1.0);
};

// The calibrator: hands over kNCalibration images in batches, and reads / writes the calibration cache.
class EntropyCalibrator : public IInt8EntropyCalibrator2
{
public:
    explicit EntropyCalibrator(std::string cacheFile)
        : mCacheFile(std::move(cacheFile))
        , mImages(makeImages(0, kNCalibration))
    {
        CHECK(cudaMalloc(&mDeviceInput, kCalibrationBatch * kH * kW * sizeof(float)));
    }

    ~EntropyCalibrator() override
    {
        cudaFree(mDeviceInput);
    }

    int32_t getBatchSize() const noexcept override
    {
        return kCalibrationBatch;
    }

    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override
    {
        ++mGetBatchCalls;
        size_t const start = static_cast<size_t>(mNextBatch) * kCalibrationBatch;
        if (start + kCalibrationBatch > static_cast<size_t>(kNCalibration) || nbBindings != 1)
        {
            return false; // no more data: calibration ends
        }
        size_t const batchElements = static_cast<size_t>(kCalibrationBatch) * kH * kW;
        CHECK(cudaMemcpy(mDeviceInput, mImages.data() + start * kH * kW, batchElements * sizeof(float),
            cudaMemcpyHostToDevice));
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
    std::string mCacheFile;
    std::vector<float> mImages;
    std::vector<char> mCache; // must stay valid while TensorRT reads it
    void* mDeviceInput{nullptr};
    int mNextBatch{0};
};

static std::vector<char> buildSerializedEngine(cookbook::Logger& logger, NetworkWeights const& w,
    IInt8Calibrator* calibrator)
{
    std::unique_ptr<IBuilder> builder(createInferBuilder(logger));
    std::unique_ptr<INetworkDefinition> network(
        builder->createNetworkV2(1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH)));
    IOptimizationProfile* profile = builder->createOptimizationProfile();
    std::unique_ptr<IBuilderConfig> config(builder->createBuilderConfig());
    config->clearFlag(BuilderFlag::kTF32);

    ITensor* input = network->addInput(kInputName, DataType::kFLOAT, Dims4{-1, 1, kH, kW});
    profile->setDimensions(kInputName, OptProfileSelector::kMIN, Dims4{1, 1, kH, kW});
    profile->setDimensions(kInputName, OptProfileSelector::kOPT, Dims4{kCalibrationBatch, 1, kH, kW});
    profile->setDimensions(kInputName, OptProfileSelector::kMAX, Dims4{kCalibrationBatch, 1, kH, kW});
    config->addOptimizationProfile(profile);
    config->setFlag(BuilderFlag::kINT8);
    config->setInt8Calibrator(calibrator);
    config->setCalibrationProfile(profile); // calibration batches have the profile's opt shape
    config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);

    auto weights = [](std::vector<float> const& v) {
        return Weights{DataType::kFLOAT, v.data(), static_cast<int64_t>(v.size())};
    };
    IConvolutionLayer* conv1 = network->addConvolutionNd(*input, kC1, DimsHW{3, 3}, weights(w.conv1W), weights(w.conv1B));
    conv1->setPaddingNd(DimsHW{1, 1});
    conv1->setName("Conv1");
    IActivationLayer* relu1 = network->addActivation(*conv1->getOutput(0), ActivationType::kRELU);
    relu1->setName("ReLU1");
    IConvolutionLayer* conv2
        = network->addConvolutionNd(*relu1->getOutput(0), kC2, DimsHW{3, 3}, weights(w.conv2W), weights(w.conv2B));
    conv2->setPaddingNd(DimsHW{1, 1});
    conv2->setName("Conv2");
    IActivationLayer* relu2 = network->addActivation(*conv2->getOutput(0), ActivationType::kRELU);
    relu2->setName("ReLU2");
    IPoolingLayer* pool = network->addPoolingNd(*relu2->getOutput(0), PoolingType::kMAX, DimsHW{2, 2});
    pool->setStrideNd(DimsHW{2, 2});
    pool->setName("MaxPool");
    IShuffleLayer* flatten = network->addShuffle(*pool->getOutput(0));
    flatten->setReshapeDimensions(Dims2{-1, kFlat});
    flatten->setName("Flatten");
    IConstantLayer* fcW = network->addConstant(Dims2{kFlat, kClasses}, weights(w.fcW));
    fcW->setName("FCWeight");
    IMatrixMultiplyLayer* fc = network->addMatrixMultiply(
        *flatten->getOutput(0), MatrixOperation::kNONE, *fcW->getOutput(0), MatrixOperation::kNONE);
    fc->setName("FC");
    for (ILayer* layer : {static_cast<ILayer*>(conv1), static_cast<ILayer*>(conv2), static_cast<ILayer*>(fc)})
    {
        layer->setPrecision(DataType::kINT8); // preferred, not forced (kPREFER_PRECISION_CONSTRAINTS)
    }
    fc->getOutput(0)->setName(kOutputName);
    network->markOutput(*fc->getOutput(0));

    std::unique_ptr<IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    if (!serialized || serialized->size() == 0)
    {
        return {};
    }
    char const* bytes = static_cast<char const*>(serialized->data());
    return std::vector<char>(bytes, bytes + serialized->size());
}

// The FP32 network on the CPU, in double.
static std::vector<float> reference(std::vector<float> const& x, NetworkWeights const& w, int n)
{
    auto conv = [](std::vector<double> const& in, int cIn, std::vector<float> const& k, std::vector<float> const& b,
                    int cOut, int batch) {
        std::vector<double> out(static_cast<size_t>(batch) * cOut * kH * kW);
        for (int i = 0; i < batch; ++i)
            for (int o = 0; o < cOut; ++o)
                for (int h = 0; h < kH; ++h)
                    for (int ww = 0; ww < kW; ++ww)
                    {
                        double s = b[o];
                        for (int c = 0; c < cIn; ++c)
                            for (int dh = 0; dh < 3; ++dh)
                                for (int dw = 0; dw < 3; ++dw)
                                {
                                    int const y = h + dh - 1, xx = ww + dw - 1;
                                    if (y < 0 || y >= kH || xx < 0 || xx >= kW)
                                        continue;
                                    s += in[((static_cast<size_t>(i) * cIn + c) * kH + y) * kW + xx]
                                        * k[((static_cast<size_t>(o) * cIn + c) * 3 + dh) * 3 + dw];
                                }
                        out[((static_cast<size_t>(i) * cOut + o) * kH + h) * kW + ww] = std::max(s, 0.0); // + ReLU
                    }
        return out;
    };
    std::vector<double> a(x.begin(), x.end());
    std::vector<double> b = conv(conv(a, 1, w.conv1W, w.conv1B, kC1, n), kC1, w.conv2W, w.conv2B, kC2, n);
    std::vector<float> out(static_cast<size_t>(n) * kClasses);
    for (int i = 0; i < n; ++i)
    {
        std::vector<double> flat(kFlat); // max pool 2x2, then flatten in (c, h, w) order
        for (int c = 0; c < kC2; ++c)
            for (int h = 0; h < kH / 2; ++h)
                for (int ww = 0; ww < kW / 2; ++ww)
                {
                    double m = -1e30;
                    for (int dh = 0; dh < 2; ++dh)
                        for (int dw = 0; dw < 2; ++dw)
                            m = std::max(m, b[((static_cast<size_t>(i) * kC2 + c) * kH + 2 * h + dh) * kW + 2 * ww + dw]);
                    flat[(c * (kH / 2) + h) * (kW / 2) + ww] = m;
                }
        for (int k = 0; k < kClasses; ++k)
        {
            double s = 0;
            for (int j = 0; j < kFlat; ++j)
                s += flat[j] * w.fcW[static_cast<size_t>(j) * kClasses + k];
            out[static_cast<size_t>(i) * kClasses + k] = static_cast<float>(s);
        }
    }
    return out;
}

int main()
{
    CHECK(cudaSetDevice(0));
    cookbook::Logger logger(ILogger::Severity::kERROR);
    NetworkWeights const w; // alive until both builds are done
    std::remove(kCacheFile);

    std::vector<char> plan;
    bool passed = true;
    for (int attempt = 0; attempt < 2; ++attempt)
    {
        std::cout << "=== INT8 build " << attempt + 1 << (attempt == 0 ? ": calibrate" : ": from the cache") << std::endl;
        EntropyCalibrator calibrator(kCacheFile);
        plan = buildSerializedEngine(logger, w, &calibrator);
        if (plan.empty())
        {
            std::cerr << "building the engine failed" << std::endl;
            return 1;
        }
        std::cout << "engine " << plan.size() << " bytes; getBatch was called " << calibrator.mGetBatchCalls
                  << " times; readCalibrationCache returned " << calibrator.mCacheBytesRead << " bytes" << std::endl;
        if (attempt == 1)
        {
            bool const ok = calibrator.mCacheBytesRead > 0 && calibrator.mGetBatchCalls == 0;
            std::cout << "check result: " << (ok ? "True" : "False")
                      << ", the second build read the cache and did not calibrate" << std::endl;
            passed = passed && ok;
        }
    }

    std::unique_ptr<IRuntime> runtime(createInferRuntime(logger));
    std::unique_ptr<ICudaEngine> engine(runtime->deserializeCudaEngine(plan.data(), plan.size()));
    if (!engine)
    {
        std::cerr << "deserializing the engine failed" << std::endl;
        return 1;
    }
    std::unique_ptr<IExecutionContext> context(engine->createExecutionContext());
    Dims4 const inputShape{kNTest, 1, kH, kW};
    context->setInputShape(kInputName, inputShape);
    Dims const outputShape = context->getTensorShape(kOutputName);
    std::vector<float> input = makeImages(kTestStart, kNTest);
    std::vector<float> output(cookbook::volume(outputShape));
    void *inputDevice = nullptr, *outputDevice = nullptr;
    CHECK(cudaMalloc(&inputDevice, input.size() * sizeof(float)));
    CHECK(cudaMalloc(&outputDevice, output.size() * sizeof(float)));
    context->setTensorAddress(kInputName, inputDevice);
    context->setTensorAddress(kOutputName, outputDevice);
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    CHECK(cudaMemcpyAsync(inputDevice, input.data(), input.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
    if (!context->enqueueV3(stream))
    {
        std::cerr << "enqueueV3 failed" << std::endl;
        return 1;
    }
    CHECK(cudaMemcpyAsync(output.data(), outputDevice, output.size() * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));
    cookbook::printArray(output.data(), outputShape, kOutputName);

    std::vector<float> const expected = reference(input, w, kNTest);
    double maxError = 0.0;
    bool ok = output.size() == expected.size();
    for (size_t i = 0; i < std::min(output.size(), expected.size()); ++i)
    {
        double const error = std::fabs(static_cast<double>(output[i]) - expected[i]);
        maxError = std::max(maxError, error);
        ok = ok && error <= kAtol + kRtol * std::fabs(expected[i]);
    }
    std::cout << "check result: " << (ok ? "True" : "False") << ", max abs error = " << maxError
              << " against the FP32 CPU reference" << std::endl;
    passed = passed && ok;
    std::vector<int64_t> shape(outputShape.d, outputShape.d + outputShape.nbDims);
    if (!cookbook::saveNpy("main.cpp.output/outputT0.npy", output.data(), shape))
    {
        std::cerr << "could not write main.cpp.output/outputT0.npy" << std::endl;
        passed = false;
    }

    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(inputDevice));
    CHECK(cudaFree(outputDevice));
    return passed ? 0 : 1;
}
