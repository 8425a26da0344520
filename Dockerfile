# One image for both production processes; docker-compose.yml picks the command.
# The build stage compiles to dist/ (npm run build: tsc, the static pages, the prebuilt
# workflow bundle); the image keeps dist/ and the production dependencies only, so nothing
# compiles TypeScript at run time.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --omit=dev keeps tsx, the type checker and jest out.
# package.json's allowScripts lists the install scripts we reviewed; npm only enforces it from
# version 12 (this image's npm 10 runs every dependency's install script).
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
CMD ["node", "dist/api/main.js"]
